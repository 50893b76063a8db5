"""The web UI's static files (built by ``make ui`` from ui/) and the routes serving them."""
