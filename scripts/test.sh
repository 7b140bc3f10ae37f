#!/usr/bin/env bash
# The test command of the README: everything glassbox's tests need, then
# the tests. Safe to run on a fresh machine (installs what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

# MariaDB backs the production-path (remote Trillian) tests.
bash scripts/trillian-mariadb.sh ensure-mariadb

# Headless Chromium runs the in-browser proof checks of the web pages.
if ! command -v chromium >/dev/null 2>&1; then
	echo "installing chromium from Debian packages"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi

# litewitness, a real C2SP tlog-witness, cosigns the ledger's checkpoints in
# the witnessing tests (witnessctl configures it). Pinned; installed into
# GOPATH/bin, where the tests look for it.
echo "== litewitness (filippo.io/torchwood)"
go install filippo.io/torchwood/cmd/litewitness@v0.6.1 filippo.io/torchwood/cmd/witnessctl@v0.6.1

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
echo "== go vet"
go vet ./...

# Pinned, so a new release's checks cannot fail a commit that did not change;
# go run caches the built binary.
echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# Generated files and go.mod/go.sum must be what the commit says: regenerate
# and tidy every module, then require the work tree unchanged (compared with
# its state before, so uncommitted local edits do not count).
tree_state() { git status --porcelain --untracked-files=all && git diff; }
before=$(tree_state)
echo "== go generate leaves no diff"
go generate ./...
if [ "$(tree_state)" != "$before" ]; then
	git status --short; echo "go generate changed files; commit its output"; exit 1
fi
echo "== go mod tidy leaves no diff (every module)"
for mod in $(git ls-files '*go.mod'); do
	(cd "$(dirname "$mod")" && go mod tidy)
done
if [ "$(tree_state)" != "$before" ]; then
	git status --short; echo "go mod tidy changed go.mod/go.sum; commit its output"; exit 1
fi
echo "== Trillian servers in tools/go.mod pinned to go.mod's version"
bash scripts/trillian-mariadb.sh check-version

echo "== go test"
go test -count=1 -timeout 40m ./...

# deploy/ is a module of its own (compose-go stays out of the service's graph).
echo "== deploy: compose file as docker compose config loads it, Dockerfile, docs"
(cd deploy && go vet ./... && go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./... && go test -count=1 ./...)

echo "== go test -race (process-level tests, which run the binary, are in the run above)"
go test -count=1 -race -short -timeout 30m ./...

echo "== fuzz (short passes; the seed corpora also run in every go test)"
go test -run '^$' -fuzz '^FuzzLoadModel$' -fuzztime 10s ./scoring/
go test -run '^$' -fuzz '^FuzzRecordRoundTrip$' -fuzztime 10s ./transparency/
go test -run '^$' -fuzz '^FuzzEncodeMatchesReference$' -fuzztime 10s ./transparency/
go test -run '^$' -fuzz '^FuzzCanonicalizeMatchesJCS$' -fuzztime 10s ./transparency/
go test -run '^$' -fuzz '^FuzzDecodeApplication$' -fuzztime 10s ./api/
go test -run '^$' -fuzz '^FuzzParseJSONFastPath$' -fuzztime 10s ./api/
go test -run '^$' -fuzz '^FuzzIntakeRecord$' -fuzztime 10s ./transparency/sqlitestore/
