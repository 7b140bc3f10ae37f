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

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
echo "== go vet"
go vet ./...

echo "== go test"
go test -count=1 -timeout 40m ./...

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
