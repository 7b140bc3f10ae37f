// Package deploy holds glassbox's container deployment: compose.yaml, the
// production topology on one Docker host, and the tests that keep it, the
// Dockerfile and docs/deploy.md valid and in step. It is a module of its own
// so that the compose loader it tests with stays out of the service's
// module graph.
package deploy
