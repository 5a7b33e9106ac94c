package deploy

import (
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// There is no container engine here, so the image is never built. What can be checked
// without one is: the Dockerfile's instructions follow the rules below, and its go build
// line, run as written, makes a static binary that runs.

// dockerInstruction is one Dockerfile instruction, continuation lines joined.
type dockerInstruction struct {
	line  int
	cmd   string   // FROM, RUN, COPY, ... in upper case
	flags []string // --from=build, --mount=..., as written
	args  string
}

// flag is the value of the instruction's --name=value flag, or "".
func (in dockerInstruction) flag(name string) string {
	for _, f := range in.flags {
		if v, ok := strings.CutPrefix(f, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// execForm reads a JSON-array argument (ENTRYPOINT ["/mcp"]); nil when it is shell form.
func (in dockerInstruction) execForm() []string {
	var out []string
	if json.Unmarshal([]byte(in.args), &out) != nil {
		return nil
	}
	return out
}

// parseDockerfile splits a Dockerfile into instructions: comments and blank lines dropped
// (also inside continuations, as Docker does), lines ending in a backslash joined.
func parseDockerfile(text string) ([]dockerInstruction, error) {
	var out []dockerInstruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if body, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), "\\"); ok {
			cur.WriteString(body)
			continue
		}
		cur.WriteString(line)
		in, err := parseInstruction(start, cur.String())
		if err != nil {
			return nil, err
		}
		out = append(out, in)
		cur.Reset()
	}
	if cur.Len() > 0 {
		return nil, fmt.Errorf("line %d: the file ends inside a continuation", start)
	}
	return out, nil
}

func parseInstruction(line int, s string) (dockerInstruction, error) {
	cmd, rest, _ := strings.Cut(strings.TrimSpace(s), " ")
	in := dockerInstruction{line: line, cmd: strings.ToUpper(cmd)}
	known := []string{"FROM", "ARG", "ENV", "RUN", "COPY", "ADD", "WORKDIR", "USER", "EXPOSE", "ENTRYPOINT", "CMD", "LABEL", "HEALTHCHECK", "STOPSIGNAL", "VOLUME", "SHELL", "ONBUILD"}
	if !slices.Contains(known, in.cmd) {
		return in, fmt.Errorf("line %d: unknown instruction %q", line, cmd)
	}
	rest = strings.TrimSpace(rest)
	for strings.HasPrefix(rest, "--") {
		f, r, _ := strings.Cut(rest, " ")
		in.flags = append(in.flags, f)
		rest = strings.TrimSpace(r)
	}
	in.args = rest
	return in, nil
}

// dockerStage is a FROM and what follows it, with its variables (ARG, ENV) resolved.
type dockerStage struct {
	name, image string
	instrs      []dockerInstruction
}

// dockerStages splits instructions into stages, expanding variables in FROM with the
// global ARGs and buildArgs, as docker build --build-arg does.
func dockerStages(instrs []dockerInstruction, buildArgs map[string]string) ([]dockerStage, error) {
	global := map[string]string{}
	for k, v := range buildArgs {
		global[k] = v
	}
	var stages []dockerStage
	for _, in := range instrs {
		if in.cmd == "FROM" {
			f := strings.Fields(expandVars(in.args, global))
			st := dockerStage{image: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				return nil, fmt.Errorf("line %d: %s before the first FROM", in.line, in.cmd)
			}
			k, v, _ := strings.Cut(in.args, "=")
			if _, given := buildArgs[k]; !given {
				global[k] = v
			}
			continue
		}
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
	}
	return stages, nil
}

// vars are the variables a RUN of the stage sees: its ARGs (build argument, else default)
// and ENVs, up to instruction index upTo.
func (st dockerStage) vars(buildArgs map[string]string, upTo int) map[string]string {
	vars := map[string]string{}
	for _, in := range st.instrs[:upTo] {
		switch in.cmd {
		case "ARG":
			for _, a := range strings.Fields(in.args) {
				k, v, _ := strings.Cut(a, "=")
				if b, ok := buildArgs[k]; ok {
					v = b
				}
				vars[k] = v
			}
		case "ENV":
			k, v, _ := strings.Cut(in.args, "=")
			vars[k] = expandVars(v, vars)
		}
	}
	return vars
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// expandVars replaces $NAME, ${NAME} and ${NAME:-default}; an unset variable is empty.
func expandVars(s string, vars map[string]string) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		g := varRef.FindStringSubmatch(m)
		name := g[1] + g[4]
		if v, ok := vars[name]; ok && v != "" {
			return v
		}
		return g[3]
	})
}

// shellWords splits one simple shell command into words as sh would: quotes, backslash
// escapes and variable expansion. Anything more (&&, ;, pipes, redirections, command
// substitution) is an error: the build line must stay one command the test can run.
func shellWords(s string, vars map[string]string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			j := i + 1
			var q strings.Builder
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) && strings.IndexByte(`"\$`+"`", s[j+1]) >= 0 {
					j++
				} else if s[j] == '`' || (s[j] == '$' && j+1 < len(s) && s[j+1] == '(') {
					return nil, fmt.Errorf("command substitution in %q", s)
				}
				q.WriteByte(s[j])
			}
			if j == len(s) {
				return nil, fmt.Errorf(`unterminated " in %q`, s)
			}
			cur.WriteString(expandVars(q.String(), vars))
			i = j
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case strings.IndexByte("&|;<>`()", c) >= 0:
			return nil, fmt.Errorf("%q is more than one simple command (%c)", s, c)
		case c == '$':
			m := varRef.FindString(s[i:])
			if m == "" || strings.HasPrefix(s[i:], "$(") {
				return nil, fmt.Errorf("cannot expand %q", s[i:])
			}
			cur.WriteString(expandVars(m, vars))
			i += len(m) - 1
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// testVersion is passed as --build-arg VERSION; mcp version must print it.
const testVersion = "v0.0.0-dockerfile-test"

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// dockerBuild is the Dockerfile's go build, parsed and checked.
type dockerBuild struct {
	stages    []dockerStage
	buildArgs map[string]string
	env       []string // NAME=value before go
	argv      []string // go build ...
	out       string   // -o, in the image
	stage     string   // the builder stage's name
}

func readDockerBuild(t *testing.T) *dockerBuild {
	t.Helper()
	text, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	instrs, err := parseDockerfile(string(text))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	b := &dockerBuild{buildArgs: map[string]string{
		"VERSION": testVersion, "TARGETOS": "linux", "TARGETARCH": runtime.GOARCH,
		"BUILDPLATFORM": "linux/" + runtime.GOARCH, "TARGETPLATFORM": "linux/" + runtime.GOARCH,
	}}
	if b.stages, err = dockerStages(instrs, b.buildArgs); err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	found := 0
	for _, st := range b.stages {
		for i, in := range st.instrs {
			if in.cmd != "RUN" || !strings.Contains(in.args, "go build") {
				continue
			}
			found++
			words, err := shellWords(in.args, st.vars(b.buildArgs, i))
			if err != nil {
				t.Fatalf("Dockerfile line %d: %v", in.line, err)
			}
			for len(words) > 0 && assignment.MatchString(words[0]) {
				b.env = append(b.env, words[0])
				words = words[1:]
			}
			b.argv, b.stage = words, st.name
			if !slices.ContainsFunc(st.instrs[:i], func(c dockerInstruction) bool { return c.cmd == "COPY" && c.args == ". ." }) {
				t.Errorf("Dockerfile line %d: the build stage must COPY . . (the whole module) before go build", in.line)
			}
		}
	}
	if found != 1 {
		t.Fatalf("Dockerfile: want one RUN with go build, found %d", found)
	}
	if len(b.argv) < 2 || b.argv[0] != "go" || b.argv[1] != "build" {
		t.Fatalf("Dockerfile: the build line %q must be go build, after any NAME=value", b.argv)
	}
	if i := slices.Index(b.argv, "-o"); i > 0 && i+1 < len(b.argv) {
		b.out = b.argv[i+1]
	} else {
		t.Fatalf("Dockerfile: go build must name its output with -o")
	}
	return b
}

// TestDockerfile checks the Dockerfile's rules: a golang builder on go.mod's Go version, a
// static (CGO_ENABLED=0), trimmed build of ./cmd/mcp stamped with the version, copied into
// distroless/static (or scratch) and run as a numeric non-root user, with the ports the
// manifests use exposed and nothing fetched by ADD; then it runs the go build line as
// written and checks the binary: static (no interpreter, no dynamic section), stripped,
// and printing the version it was given.
func TestDockerfile(t *testing.T) {
	b := readDockerBuild(t)
	if len(b.stages) < 2 {
		t.Fatalf("want a multi-stage build (builder, then a minimal image), got %d stage(s)", len(b.stages))
	}

	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	builder := b.stages[0]
	for _, st := range b.stages {
		if st.name == b.stage {
			builder = st
		}
	}
	if want := "golang:" + string(goVersion[1]); builder.image != want && !strings.HasPrefix(builder.image, want+"-") && !strings.HasPrefix(builder.image, want+".") {
		t.Errorf("builder image %s: want %s (go.mod's go version)", builder.image, want)
	}

	if !slices.Contains(b.env, "CGO_ENABLED=0") {
		t.Errorf("go build runs with %q: want CGO_ENABLED=0 (a static binary for distroless/static)", b.env)
	}
	if !slices.Contains(b.argv, "-trimpath") {
		t.Error("go build lacks -trimpath")
	}
	if i := slices.Index(b.argv, "-ldflags"); i < 0 || i+1 >= len(b.argv) ||
		!strings.Contains(b.argv[i+1], "-X github.com/mcplane/mcp/internal/version.Version="+testVersion) {
		t.Errorf("go build %q: want -ldflags with -X github.com/mcplane/mcp/internal/version.Version=${VERSION}", b.argv)
	}
	if last := b.argv[len(b.argv)-1]; last != "./cmd/mcp" {
		t.Errorf("go build builds %s, want ./cmd/mcp", last)
	}

	final := b.stages[len(b.stages)-1]
	if !regexp.MustCompile(`^gcr\.io/distroless/static(-debian\d+)?:nonroot$`).MatchString(final.image) && final.image != "scratch" {
		t.Errorf("final image %s: want gcr.io/distroless/static-debian12:nonroot or scratch", final.image)
	}
	var user string
	var expose []string
	var entrypoint, cmd []string
	copied := false
	for _, st := range b.stages {
		for _, in := range st.instrs {
			if in.cmd == "ADD" && regexp.MustCompile(`(://|git@)`).MatchString(in.args) {
				t.Errorf("Dockerfile line %d: ADD of a URL (unpinned, unverified download); fetch in a RUN with a checksum, or COPY", in.line)
			}
		}
	}
	for _, in := range final.instrs {
		switch in.cmd {
		case "USER":
			user = in.args
		case "EXPOSE":
			expose = append(expose, strings.Fields(in.args)...)
		case "ENTRYPOINT":
			entrypoint = in.execForm()
		case "CMD":
			cmd = in.execForm()
		case "COPY":
			if in.flag("from") == b.stage && in.args == b.out+" /mcp" {
				copied = true
			}
		case "RUN":
			t.Errorf("Dockerfile line %d: RUN in the final stage (distroless has no shell)", in.line)
		}
	}
	uid, gid, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("final USER %q: want a numeric non-root uid (runAsNonRoot can only verify numbers)", user)
	} else if g, err := strconv.Atoi(gid); gid != "" && (err != nil || g == 0) {
		t.Errorf("final USER %q: want a numeric non-root gid", user)
	}
	if !copied {
		t.Errorf("the final stage must COPY --from=%s %s /mcp", b.stage, b.out)
	}
	if !slices.Equal(entrypoint, []string{"/mcp"}) || !slices.Equal(cmd, []string{"serve"}) {
		t.Errorf(`ENTRYPOINT %q CMD %q: want ["/mcp"] and ["serve"] (exec form: no shell in the image)`, entrypoint, cmd)
	}
	var ports []string
	for _, p := range deployment(t, renderKustomize(t, "kustomize/base"), "mcp").Spec.Template.Spec.Containers[0].Ports {
		ports = append(ports, strconv.Itoa(int(p.ContainerPort)))
	}
	if slices.Sort(expose); !slices.Equal(expose, slices.Sorted(slices.Values(ports))) {
		t.Errorf("EXPOSE %v, the Deployment's ports %v", expose, ports)
	}

	bin := mcpBinary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary has a %v program header: it is dynamically linked and cannot run on distroless/static", p.Type)
		}
	}
	if f.Section(".dynamic") != nil || f.Section(".interp") != nil {
		t.Error("the binary has .dynamic/.interp sections: not static")
	}
	if f.Section(".symtab") != nil || f.Section(".debug_info") != nil {
		t.Error("the binary has a symbol table or DWARF: -ldflags -s -w did not take")
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" || settings["GOOS"] != "linux" {
		t.Errorf("build settings %v: want CGO_ENABLED=0, -trimpath=true, GOOS=linux", settings)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), testVersion) {
		t.Errorf("mcp version: %s (%v), want it to say %s", out, err, testVersion)
	}
}

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
	binaryDir  string
)

// mcpBinary runs the Dockerfile's go build line as written — same environment
// assignments, same flags — with only the output moved out of /out, and returns the
// binary. Built once per test run.
func mcpBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		// readDockerBuild ends this goroutine on a broken Dockerfile; later callers see this.
		binaryErr = errors.New("the Dockerfile could not be read (see the first failure)")
		b := readDockerBuild(t)
		binaryDir, binaryErr = os.MkdirTemp("", "mcp-dockerfile-")
		if binaryErr != nil {
			return
		}
		binaryPath = filepath.Join(binaryDir, "mcp")
		argv := slices.Clone(b.argv)
		argv[slices.Index(argv, "-o")+1] = binaryPath
		gobin, err := exec.LookPath("go")
		if err != nil {
			binaryErr = err
			return
		}
		cmd := exec.Command(gobin, argv[1:]...)
		cmd.Dir = ".." // WORKDIR /src holds the whole module (COPY . .)
		cmd.Env = append(os.Environ(), b.env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			binaryErr = fmt.Errorf("%s %s: %v\n%s", strings.Join(b.env, " "), strings.Join(argv, " "), err, out)
		}
	})
	if binaryErr != nil {
		t.Fatalf("the Dockerfile's go build: %v", binaryErr)
	}
	return binaryPath
}

// TestDockerignore: the build context keeps every file go build ./cmd/mcp reads (go.mod,
// go.sum, the Go and embedded files of the module's packages it imports) and drops .git.
func TestDockerignore(t *testing.T) {
	text, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(text), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.Contains(line, "**") {
			t.Fatalf(".dockerignore %q: this test's matcher does not do **; teach it", line)
		}
		patterns = append(patterns, line)
	}
	cmd := exec.Command("go", "list", "-deps", "-f", `{{if .Module}}{{if eq .Module.Path "github.com/mcplane/mcp"}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}{{end}}`, "./cmd/mcp")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		dir, err := filepath.Rel(root, f[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range f[1:] {
			needed = append(needed, filepath.ToSlash(filepath.Join(dir, name)))
		}
	}
	if len(needed) < 20 {
		t.Fatalf("go list found only %v", needed)
	}
	for _, p := range needed {
		if dockerignored(patterns, p) {
			t.Errorf(".dockerignore leaves out %s, which go build ./cmd/mcp reads", p)
		}
	}
	if !dockerignored(patterns, ".git/HEAD") {
		t.Error(".dockerignore should leave out .git")
	}
}

// dockerignored applies .dockerignore patterns as Docker does: each is matched against
// the path and its parent directories, the last matching pattern wins, ! re-includes.
func dockerignored(patterns []string, path string) bool {
	excluded := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(strings.TrimPrefix(p, "!"))), "/")
		for q := path; q != "." && q != "/"; q = filepath.ToSlash(filepath.Dir(q)) {
			if ok, _ := filepath.Match(p, q); ok {
				excluded = !neg
				break
			}
		}
	}
	return excluded
}
