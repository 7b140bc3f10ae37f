package deploy

import (
	"bufio"
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// exampleEnv returns deploy/example.env as KEY=VALUE lines, with TREE_ID
// set as an operator sets it after createtree.
func exampleEnv(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("example.env")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var env []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if line == "TREE_ID=" {
			line = "TREE_ID=1234"
		}
		env = append(env, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return env
}

// load reads a compose file as `docker compose config` does: the same
// loader (compose-go), with the compose-spec schema validation, the
// interpolation and the consistency checks on, and only the environment
// given (not the test process's).
func load(t *testing.T, file string, env []string, profiles ...string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{file},
		cli.WithName("glassbox"),
		cli.WithWorkingDirectory("."),
		cli.WithEnv(env),
		cli.WithProfiles(profiles),
	)
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

// TestComposeConfig loads deploy/compose.yaml with every profile and checks
// the topology docs/deploy.md describes: MariaDB, one log server, one
// signer, two replicas of one tree sharing the two keys, the setup services
// and the optional monitor.
func TestComposeConfig(t *testing.T) {
	p, err := load(t, "compose.yaml", exampleEnv(t), "setup", "witness")
	if err != nil {
		t.Fatalf("compose.yaml does not load: %v", err)
	}
	want := []string{"createtree", "glassbox-1", "glassbox-2", "init-keys", "mariadb", "monitor", "trillian-log-server", "trillian-log-signer"}
	if got := p.ServiceNames(); !slices.Equal(got, want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	for _, c := range []struct{ service, profile string }{
		{"createtree", "setup"}, {"init-keys", "setup"}, {"monitor", "witness"},
		{"mariadb", ""}, {"trillian-log-server", ""}, {"trillian-log-signer", ""}, {"glassbox-1", ""}, {"glassbox-2", ""},
	} {
		got := p.Services[c.service].Profiles
		if (c.profile == "" && len(got) != 0) || (c.profile != "" && !slices.Equal(got, []string{c.profile})) {
			t.Errorf("%s: profiles %v, want %q", c.service, got, c.profile)
		}
	}
	for _, name := range []string{"glassbox-1", "glassbox-2"} {
		s := p.Services[name]
		for _, arg := range []string{"--trillian=trillian-log-server:8090", "--tree-id=1234", "--data-dir=/data"} {
			if !slices.Contains(s.Command, arg) {
				t.Errorf("%s: command %v lacks %s", name, s.Command, arg)
			}
		}
		targets := map[string]string{}
		for _, sec := range s.Secrets {
			targets[sec.Source] = sec.Target
		}
		if targets["checkpoint_key"] != "/data/ledger/checkpoint.key" || targets["applicant_token_key"] != "/data/applicant-token.key" {
			t.Errorf("%s: secrets %v, want both shared keys at their data-dir paths", name, targets)
		}
		if len(s.Volumes) != 1 || s.Volumes[0].Target != "/data" || s.Volumes[0].Source != name+"-data" {
			t.Errorf("%s: volumes %+v, want its own volume at /data", name, s.Volumes)
		}
	}
	signer := p.Services["trillian-log-signer"].Command
	if !slices.Contains(signer, "--force_master") || signer[0] != "/trillian_log_signer" {
		t.Errorf("signer command %v", signer)
	}
	if b := p.Services["mariadb"].Build; b == nil || b.Target != "mariadb" {
		t.Errorf("mariadb must be built from the Dockerfile's mariadb stage (Trillian's schema): %+v", b)
	}
}

// TestComposeConfigRefuses checks that the loader used above does reject
// what `docker compose config` rejects, so that TestComposeConfig passing
// means something: a field the compose specification does not have, a
// missing required variable, and a service depending on one that does not
// exist.
func TestComposeConfigRefuses(t *testing.T) {
	data, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src := string(data)
	for _, c := range []struct {
		name string
		edit func(string) string
		env  func([]string) []string
		want string
	}{
		{"unknown field", func(s string) string {
			return strings.Replace(s, "    restart: unless-stopped\n    environment:\n      MARIADB_DATABASE", "    restart: unless-stopped\n    restrat: always\n    environment:\n      MARIADB_DATABASE", 1)
		}, nil, "restrat"},
		{"tree id unset", nil, func(env []string) []string {
			return slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "TREE_ID=") })
		}, "TREE_ID"},
		{"dependency missing", func(s string) string {
			return strings.Replace(s, "    depends_on:\n      - glassbox-1\n", "    depends_on:\n      - glassbox-3\n", 1)
		}, nil, "glassbox-3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, env := src, exampleEnv(t)
			if c.edit != nil {
				if s = c.edit(src); s == src {
					t.Fatal("the edit did not apply: compose.yaml changed shape")
				}
			}
			if c.env != nil {
				env = c.env(env)
			}
			file := t.TempDir() + "/compose.yaml"
			if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := load(t, file, env, "setup", "witness")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("loaded with error %v, want one naming %q", err, c.want)
			}
		})
	}
}

// TestDeployDocIncludesCompose keeps the compose file shown in
// docs/deploy.md identical to deploy/compose.yaml.
func TestDeployDocIncludesCompose(t *testing.T) {
	doc, err := os.ReadFile("../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	compose, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```yaml\n"+string(compose)+"```\n") {
		t.Fatal("docs/deploy.md does not show deploy/compose.yaml verbatim in a ```yaml block: copy the file into it")
	}
}

var digestRef = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)

// TestDockerfile checks the image's promises: the final stage is the static
// non-root image with CA certificates, and every base image is either pinned
// by digest or, while no registry was reachable to read one, marked with the
// TODO(digest) note (the test lists those images).
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	args := map[string]string{}
	stages := map[string]bool{}
	var finalFrom, finalUser string
	var finalCopies []string
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "ARG":
			if k, v, ok := strings.Cut(f[1], "="); ok {
				args[k] = v
			}
		case "FROM":
			image := f[1]
			if strings.HasPrefix(image, "${") {
				name := strings.Trim(image, "${}")
				if image = args[name]; image == "" {
					t.Fatalf("FROM %s: no default for ARG %s", f[1], name)
				}
			}
			if image != "scratch" && !stages[image] && !digestRef.MatchString(image) {
				if !strings.Contains(text, "TODO(digest)") {
					t.Errorf("base image %s is not pinned by digest", image)
				}
				t.Logf("base image %s not yet pinned by digest (TODO(digest) in the Dockerfile)", image)
			}
			if len(f) == 4 && strings.EqualFold(f[2], "AS") {
				stages[f[3]] = true
			}
			finalFrom, finalUser, finalCopies = image, "", nil
		case "USER":
			finalUser = f[1]
		case "COPY":
			finalCopies = append(finalCopies, line)
		}
	}
	if finalFrom != "scratch" {
		t.Errorf("final stage is FROM %s, want scratch (static image)", finalFrom)
	}
	if finalUser == "" || strings.HasPrefix(finalUser, "0") || strings.HasPrefix(finalUser, "root") {
		t.Errorf("final stage runs as %q, want a non-root user", finalUser)
	}
	if !slices.ContainsFunc(finalCopies, func(l string) bool {
		return strings.Contains(l, "/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt")
	}) {
		t.Error("final stage does not copy the CA certificates to /etc/ssl/certs/ca-certificates.crt")
	}
}
