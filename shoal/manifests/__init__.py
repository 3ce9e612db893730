"""Knative manifests from code: `shoal manifests` renders the registered functions into
`manifests/base/` (see `render`), and `--check` compares (see `files`)."""
