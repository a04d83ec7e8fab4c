// t2l playground: vanilla JS, no build step, nothing loaded from elsewhere.
// Flow: POST /v1/adapters (id, cached, coverage, embed + hypernet timings), then two streams side by side:
// POST /v1/generate with the task (the adapted answer) and POST /v1/chat/completions with the base model.
"use strict";

// Operations the shipped checkpoint does well (its eval.md), checked through this server with the description also
// in the prompt (the default): TX, park, ant, Eastern, where the base model answers in a sentence or echoes.
const EXAMPLES = [
  {label: "US state → postal code", task: "Give the two-letter postal abbreviation of this US state.", prompt: "Texas"},
  {label: "Place in a sentence", task: "Give the place named in the sentence.",
   prompt: "Anna draws the boat near the park."},
  {label: "First word of a list", task: "What is the first word in the list?", prompt: "ant, kitten, tomato, ladder, fox"},
  {label: "State time zone", task: "Which US time zone is this state's capital in?", prompt: "Ohio"},
];

const $ = (id) => document.getElementById(id);
let config = {auth: false, model: null, description_in_prompt: false, description_placement: "user",
  max_tokens_limit: 1024};

function headers() {
  const h = {"Content-Type": "application/json"};
  const key = $("key").value.trim();
  if (config.auth && key) h["Authorization"] = "Bearer " + key;
  return h;
}

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").classList.toggle("error", Boolean(isError));
}

async function errorText(response) {
  try {
    const body = await response.json();
    return (body.error && body.error.message) || JSON.stringify(body);
  } catch (_) {
    return response.status + " " + response.statusText;
  }
}

async function postJSON(path, body) {
  const response = await fetch(path, {method: "POST", headers: headers(), body: JSON.stringify(body)});
  if (!response.ok) throw new Error(path + ": " + await errorText(response));
  return response.json();
}

// POST (or, without a body, GET) a streaming request; onEvent gets every SSE `data:` JSON payload until [DONE].
async function stream(path, body, onEvent) {
  const init = body === null ? {headers: headers()} : {method: "POST", headers: headers(), body: JSON.stringify(body)};
  const response = await fetch(path, init);
  if (!response.ok) throw new Error(path + ": " + await errorText(response));
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, {stream: true});
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of frame.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") return;
        const event = JSON.parse(data);
        if (event.error) throw new Error(event.error.message);
        onEvent(event);
      }
    }
  }
}

const ms = (value) => (typeof value === "number" ? value.toFixed(value < 10 ? 1 : 0) + " ms" : "–");

function normalise(text) {
  return text.normalize("NFKC").replace(/\s+/g, " ").trim();
}

function showAdapter(info) {
  $("adapter-id").textContent = info.id;
  $("adapter-cached").textContent = info.cached ? "yes (from the cache)" : "no (generated now)";
  const t = info.timings || {};
  const el = $("adapter-timings");
  for (const key of ["load", "generation"]) delete el.dataset[key];
  el.dataset.lookup = info.cached ? "cache lookup " + ms(t.cache_ms) :
    "embed " + ms(t.embed_ms) + " · hypernet " + ms(t.hypernet_ms);
  renderTimings({});
  const cov = info.coverage;
  const list = $("nearest");
  list.replaceChildren();
  const expected = cov && cov.expected_accuracy;
  $("expected-accuracy").textContent = expected ? expected.exact.toFixed(1) + "% exact match on its nearest " +
    "measured tasks (" + expected.from.map(n => n.task).join(", ") + ")" :
    "unavailable (this checkpoint carries no accuracy.json)";
  if (!cov) {
    $("coverage-score").textContent = "unavailable (this checkpoint has no description index)";
    $("coverage-badge").textContent = "";
    $("coverage-badge").className = "badge";
  } else {
    $("coverage-score").textContent = cov.score.toFixed(3) + " (threshold " + cov.threshold.toFixed(3) + ")";
    $("coverage-badge").textContent = cov.in_distribution ? "in distribution" : "out of distribution";
    $("coverage-badge").className = "badge " + (cov.in_distribution ? "ok" : "warn");
    for (const n of cov.nearest) {
      const item = document.createElement("li");
      const name = document.createElement("code");
      name.textContent = n.task;
      item.append(name, " " + n.similarity.toFixed(3));
      list.append(item);
    }
  }
  const link = $("download");
  link.href = "/v1/adapters/" + encodeURIComponent(info.id) + "/download";
  link.setAttribute("download", info.id + ".zip");
}

function renderTimings(extra) {
  const el = $("adapter-timings");
  Object.assign(el.dataset, extra);
  el.textContent = el.dataset.lookup + " · load " + (el.dataset.load || "–") + " · generation " +
    (el.dataset.generation || "–");
}

async function runAdapted(body) {
  const out = $("adapted-answer");
  await stream("/v1/generate", {...body, stream: true}, (event) => {
    out.textContent += event.text || "";
    if (event.timings) {
      renderTimings({load: ms(event.timings.load_ms), generation: ms(event.timings.generation_ms)});
      const n = event.usage ? event.usage.completion_tokens : null;
      $("adapted-meta").textContent = (n === null ? "" : n + (n === 1 ? " token · " : " tokens · ")) +
        "finish: " + event.finish_reason;
    }
  });
}

async function runBase(body, messages) {
  const out = $("base-answer");
  const started = performance.now();
  await stream("/v1/chat/completions", {
    model: config.model, messages, max_tokens: body.max_tokens,
    temperature: body.temperature, stream: true, description_in_prompt: false,
  }, (event) => {
    const choice = event.choices && event.choices[0];
    if (!choice) return;
    out.textContent += (choice.delta && choice.delta.content) || "";
    if (choice.finish_reason) {
      $("base-meta").textContent = "finish: " + choice.finish_reason + " · " + ms(performance.now() - started);
    }
  });
}

async function submit(event) {
  event.preventDefault();
  const task = $("task").value, prompt = $("prompt").value;
  if (!task.trim() || !prompt.trim()) {
    setStatus("Write a task description and a prompt first.", true);
    (task.trim() ? $("prompt") : $("task")).focus();
    return;
  }
  if (config.auth && !$("key").value.trim()) {
    setStatus("This server needs an API key.", true);
    $("key").focus();
    return;
  }
  const body = {
    task, prompt, max_tokens: Number($("max-tokens").value) || 32,
    temperature: Number($("temperature").value) || 0, description_in_prompt: $("in-prompt").checked,
  };
  // the base model gets the prompt the adapted request is served with, description included where the server puts it
  const messages = !body.description_in_prompt ? [{role: "user", content: prompt}]
    : config.description_placement === "system"
      ? [{role: "system", content: normalise(task)}, {role: "user", content: prompt}]
      : [{role: "user", content: normalise(task) + "\n\n" + prompt}];
  $("run").disabled = true;
  $("results").hidden = false;
  for (const id of ["adapted-answer", "base-answer", "adapted-meta", "base-meta"]) $(id).textContent = "";
  setStatus("Generating the adapter…");
  try {
    showAdapter(await postJSON("/v1/adapters", {task}));
    setStatus("Generating both answers…");
    await Promise.all([runAdapted(body), runBase(body, messages)]);
    setStatus("Done.");
  } catch (error) {
    setStatus(error.message, true);
  } finally {
    $("run").disabled = false;
  }
}

// "input -> output" lines; a line without an arrow is named in the error.
function parseExamples(text) {
  const examples = [];
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    const cut = line.indexOf("->");
    if (cut < 0 || !line.slice(0, cut).trim() || !line.slice(cut + 2).trim()) {
      throw new Error("Line " + (i + 1) + " is not `input -> output`.");
    }
    examples.push({input: line.slice(0, cut).trim(), output: line.slice(cut + 2).trim()});
  });
  if (!examples.length) throw new Error("Write at least one example, `input -> output` per line.");
  return examples;
}

const percent = (value) => (typeof value === "number" ? value.toFixed(0) + "%" : "–");

function showJob(job) {
  const bar = $("refine-progress");
  bar.hidden = false;
  bar.max = job.steps || 1;
  bar.value = job.status === "succeeded" ? bar.max : (job.step || 0);
  $("refine-status").textContent = job.status === "running" ?
    "Step " + (job.step || 0) + " of " + job.steps + (job.loss != null ? " · loss " + job.loss.toFixed(3) : "") +
    (job.eta_s != null ? " · about " + Math.ceil(job.eta_s) + " s left" : "") :
    job.status === "queued" ? "Waiting for the worker…" : job.status === "succeeded" ?
    (job.cached ? "Done before: the same refine is cached." : "Done.") : "Refine " + job.status + ".";
  const scores = job.scores || {};
  $("refine-scores").hidden = !job.scores;
  $("score-base").textContent = percent(scores.exact_base);
  $("score-base-description").textContent = percent(scores.exact_base_description);
  $("score-before").textContent = percent(scores.exact_before);
  $("score-after").textContent = percent(scores.exact_after);
}

async function refine() {
  const task = $("task").value, prompt = $("prompt").value;
  $("refine-status").classList.remove("error");
  let examples;
  try {
    if (!task.trim()) throw new Error("Write a task description first.");
    examples = parseExamples($("refine-examples").value);
  } catch (error) {
    $("refine-status").textContent = error.message;
    $("refine-status").classList.add("error");
    return;
  }
  $("refine-run").disabled = true;
  $("refined-answer").textContent = "";
  delete $("refine-panel").dataset.done;
  try {
    let job = await postJSON("/v1/adapters/refine", {task, examples});
    showJob(job);
    if (job.status !== "succeeded") {
      await stream("/v1/jobs/" + encodeURIComponent(job.id) + "/events", null, (event) => { job = event; showJob(job); });
    }
    if (job.status !== "succeeded") throw new Error(job.error || "The refine job " + job.status + ".");
    if (prompt.trim()) {
      const answer = await postJSON("/v1/chat/completions", {
        model: job.adapter_id, messages: [{role: "user", content: prompt}],
        max_tokens: Number($("max-tokens").value) || 32, temperature: Number($("temperature").value) || 0,
      });
      $("refined-answer").textContent = answer.choices[0].message.content;
    }
  } catch (error) {
    $("refine-status").textContent = error.message;
    $("refine-status").classList.add("error");
  } finally {
    $("refine-run").disabled = false;
    $("refine-panel").dataset.done = "true";
  }
}

async function download(event) {
  if (!config.auth) return; // a plain link works without a key
  event.preventDefault();
  const response = await fetch(event.currentTarget.href, {headers: headers()});
  if (!response.ok) { setStatus(await errorText(response), true); return; }
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = $("adapter-id").textContent + ".zip";
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function renderExamples() {
  const box = $("examples");
  for (const example of EXAMPLES) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "example";
    button.textContent = example.label;
    button.setAttribute("aria-label", "Example: " + example.task + " Prompt: " + example.prompt);
    button.addEventListener("click", () => {
      $("task").value = example.task;
      $("prompt").value = example.prompt;
      $("prompt").focus();
    });
    box.append(button);
  }
}

async function init() {
  renderExamples();
  $("form").addEventListener("submit", submit);
  $("download").addEventListener("click", download);
  $("refine-run").addEventListener("click", refine);
  // Ctrl/Cmd+Enter in a text area submits, like a chat box.
  for (const id of ["task", "prompt"]) {
    $(id).addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("form").requestSubmit();
    });
  }
  try {
    const response = await fetch("/playground/config");
    config = {...config, ...(await response.json())};
  } catch (_) { /* defaults */ }
  $("key-field").hidden = !config.auth;
  $("refine-off").hidden = Boolean(config.refine);
  $("refine-run").disabled = !config.refine;
  $("in-prompt").checked = Boolean(config.description_in_prompt);
  $("max-tokens").max = String(config.max_tokens_limit);
  $("model-line").textContent = config.model ? "Base model: " + config.model + "; checkpoint: " +
    config.checkpoint + "." : "The service is starting.";
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", init);
