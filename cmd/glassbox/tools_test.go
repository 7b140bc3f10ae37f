package main

import (
	"os"
	"testing"

	"golang.org/x/mod/modfile"
)

// parseModFile parses the go.mod file at name, tool directives included.
func parseModFile(t *testing.T, name string) *modfile.File {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse(name, data, nil)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return f
}

// TestToolsModulePinsTrillian keeps the Trillian servers that
// scripts/trillian-mariadb.sh builds from tools/go.mod at the version the
// service itself links against: a drift would test glassbox against a log
// server it does not ship with. The main go.mod must not carry the servers'
// tool directives (they pull the servers' storage drivers into the service's
// module graph); tools/go.mod must carry all three.
func TestToolsModulePinsTrillian(t *testing.T) {
	const trillian = "github.com/google/trillian"
	servers := map[string]bool{
		trillian + "/cmd/trillian_log_server": true,
		trillian + "/cmd/trillian_log_signer": true,
		trillian + "/cmd/createtree":          true,
	}
	versions := map[string]string{}
	for _, c := range []struct {
		name  string
		tools int
	}{
		{"../../go.mod", 0},
		{"../../tools/go.mod", len(servers)},
	} {
		f := parseModFile(t, c.name)
		for _, r := range f.Require {
			if r.Mod.Path == trillian {
				versions[c.name] = r.Mod.Version
			}
		}
		n := 0
		for _, tool := range f.Tool {
			if servers[tool.Path] {
				n++
			}
		}
		if n != c.tools {
			t.Errorf("%s lists %d of Trillian's server tools; want %d", c.name, n, c.tools)
		}
	}
	main, tools := versions["../../go.mod"], versions["../../tools/go.mod"]
	if main == "" || main != tools {
		t.Errorf("go.mod requires %s %q, tools/go.mod %q: pin the same version in both", trillian, main, tools)
	}
}
