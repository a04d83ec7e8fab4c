"""HTTP routes only: parse, call the services on `request.app.state.runtime`, shape the response."""
