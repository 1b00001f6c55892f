"""The daemon's wiring: start-up and shutdown, the HTTP server, health, and the event loop's responsiveness."""
