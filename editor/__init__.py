"""The browser editor: a standard-library HTTP server (`server`) over the editing session (`session`)."""
