"""/v1/adapters: create (generate or fetch), inspect, download as a PEFT zip, delete."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ..auth import require
from ..errors import guarded
from ..schemas import AdapterCreate, AdapterDeleted, AdapterInfo
from ..service import AdapterRecord

router = APIRouter(tags=["adapters"])
USE, ADMIN = [Depends(require("use"))], [Depends(require("admin"))]
ONE = "#/paths/~1v1~1adapters~1{adapter_id}"  # JSON pointer to the adapter resource's path item
# An adapter's id leads to the operations on it (clients and schemathesis' stateful phase follow these links).
LINKS = {name: {"operationRef": f"{ONE}{tail}", "parameters": {"adapter_id": "$response.body#/id"}}
         for name, tail in (("GetAdapter", "/get"), ("DownloadAdapter", "~1download/get"),
                            ("DeleteAdapter", "/delete"))}


def _info(request: Request, record: AdapterRecord) -> AdapterInfo:
    rt = request.app.state.runtime
    ms = record.timings.get("embed_ms", 0.0) + record.timings.get("hypernet_ms", 0.0)
    return AdapterInfo(id=record.id, cached=record.cached, generation_ms=round(ms, 3), base_model=rt.model_name,
                       checkpoint=rt.checkpoint_name, description=record.description,
                       loaded=record.id in rt.completions.loaded_adapters(), coverage=record.coverage,
                       timings={k: round(v, 3) for k, v in record.timings.items() if k.endswith("_ms")})


@router.post("/v1/adapters", response_model=AdapterInfo, dependencies=USE,
             responses={200: {"links": LINKS}, **guarded(400, 413)})
async def create_adapter(body: AdapterCreate, request: Request) -> AdapterInfo:
    return _info(request, await request.app.state.runtime.completions.create_adapter(body.task))


@router.get("/v1/adapters/{adapter_id}", response_model=AdapterInfo, dependencies=USE, responses=guarded(404))
async def get_adapter(adapter_id: str, request: Request) -> AdapterInfo:
    return _info(request, await request.app.state.runtime.completions.find_adapter(adapter_id))


@router.get("/v1/adapters/{adapter_id}/download", response_class=Response,
            responses={200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "the PEFT folder (adapter_config.json, adapter_model.safetensors)"},
                       **guarded(404)}, dependencies=USE)
async def download_adapter(adapter_id: str, request: Request) -> Response:
    record = await request.app.state.runtime.completions.find_adapter(adapter_id)
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp:
        folder = record.adapter.to_peft(Path(tmp) / adapter_id)
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for file in sorted(folder.iterdir()):
                zf.write(file, f"{adapter_id}/{file.name}")
    return Response(buffer.getvalue(), media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{adapter_id}.zip"'})


@router.delete("/v1/adapters/{adapter_id}", dependencies=ADMIN, response_model=None,
               responses={200: {"model": AdapterDeleted}, **guarded(404)})
async def delete_adapter(adapter_id: str, request: Request) -> dict:
    unloaded = await request.app.state.runtime.completions.delete_adapter(adapter_id)
    return {"id": adapter_id, "object": "adapter.deleted", "deleted": True, "engine_unloaded": unloaded}
