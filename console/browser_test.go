package console_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/container"
	"github.com/ufop/ufop/examples"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/internal/testneed"
	"github.com/ufop/ufop/platform"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/ufopctl"
)

const (
	chromium = "/usr/bin/chromium"
	images   = "../../shared/testdata/images"
)

// startPlatform runs the one-process platform (embedded etcd and NATS,
// the real Docker engine) with the console sampling every second.
func startPlatform(t *testing.T) *platform.Platform {
	t.Helper()
	cfg := platform.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Gateway.Addr = "127.0.0.1:0"
	cfg.Gateway.Console.SampleEvery = time.Second
	cfg.EtcdClientAddr, cfg.EtcdPeerAddr, cfg.NATSPort = testenv.FreeAddr(t), testenv.FreeAddr(t), -1
	p, err := platform.New(cfg, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background()) }()
	select {
	case <-p.Ready():
	case err := <-errc:
		t.Fatalf("platform: %v", err)
	case <-time.After(90 * time.Second):
		t.Fatal("platform not ready in 90s")
	}
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			p.Close()
			if err := <-errc; err != nil {
				t.Errorf("platform stop: %v", err)
			}
		})
	})
	return p
}

// browser starts headless Chromium on loopback only: every host name but
// 127.0.0.1 resolves to nothing, so no background request leaves.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		// Like Docker: in CI, where the browser test must run, a missing
		// browser fails it (scripts/test.sh installs it).
		if os.Getenv("CI") != "" {
			t.Fatalf("no Chromium at %s (apt-get install chromium)", chromium)
		}
		t.Skipf("no Chromium at %s (apt-get install chromium)", chromium)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// do runs browser steps with a deadline, failing the test with what was
// being done and the page's status line.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		page, _ := chromedp.Run(sctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText.slice(0, 600)`))
		t.Fatalf("%s: %v; the page:\n%s", what, err, page)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// until polls a JavaScript condition in the page until it is true.
func until(cond string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingInterval(100*time.Millisecond))
}

// shoot saves a screenshot of the page in docs/img when asked to
// (UFOP_UPDATE_SCREENSHOTS=1).
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("UFOP_UPDATE_SCREENSHOTS") != "1" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join("..", "docs", "img", "console-"+name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func dockerClient(t *testing.T) *client.Client {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func removeContainersLater(t *testing.T, docker *client.Client, name string) {
	t.Cleanup(func() {
		cs, _ := docker.ContainerList(context.Background(), dcontainer.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("label", container.LabelName+"="+name))})
		for _, c := range cs {
			docker.ContainerRemove(context.Background(), c.ID, dcontainer.RemoveOptions{Force: true})
		}
	})
}

// build uploads an example UFOP package and waits for its result.
func build(t *testing.T, base string, cfg ufopctl.Config, name, example string) {
	t.Helper()
	pkg, err := examples.Tarball(context.Background(), example, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(pkg)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/ufops/"+name+"/versions", bytes.NewReader(body))
	auth.SignRequest(req, cfg.AK, cfg.SK, auth.BodyHash(body), time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(out), `"state":"ok"`) {
		t.Fatalf("build %s: %s\n%s", name, resp.Status, out)
	}
}

func ufopctlConsole(t *testing.T, conf string) string {
	t.Helper()
	var out, errb bytes.Buffer
	code := ufopctl.Main(context.Background(), []string{"--config", conf, "console"}, ufopctl.Env{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" },
	})
	if code != 0 {
		t.Fatalf("ufopctl console: exit %d: %s", code, errb.String())
	}
	return strings.TrimSpace(out.String())
}

// TestConsoleInBrowser walks the console in a real Chromium against a
// real platform: sign in with ufopctl console, create a bucket, upload,
// run the playground, change a scale policy and watch the UFOP chart
// follow, and see another user's bucket refused.
func TestConsoleInBrowser(t *testing.T) {
	testneed.Integration(t, "Chromium, Docker and a one-process platform")
	testenv.RequireDocker(t)
	if _, err := os.Stat(images); err != nil {
		t.Skipf("test images not found at %s", images)
	}
	docker := dockerClient(t)
	ufopName := "cons-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	removeContainersLater(t, docker, ufopName)
	p := startPlatform(t)
	base := "http://" + p.Gateway().AdminAddr()
	ctx := context.Background()
	admCfg, err := ufopctl.LoadConfig(p.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	adm := ufopctl.NewClient(admCfg, nil)
	me, err := adm.Whoami(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Another user with a bucket of their own, for the 403.
	bob, err := adm.AddUser(ctx, "bob", ufop.TierFree, false)
	if err != nil {
		t.Fatal(err)
	}
	bobCl := ufopctl.NewClient(ufopctl.Config{Endpoint: base, AK: bob.AK, SK: bob.SK}, nil)
	if _, err := bobCl.CreateBucket(ctx, "bobs-private", ufopctl.BucketOptions{Private: true}); err != nil {
		t.Fatal(err)
	}
	// A UFOP with a built version, so that the scaler acts on its policy.
	if err := adm.Do(ctx, http.MethodPut, "/v1/ufops/"+ufopName, []byte(`{"mode":0,"desc":"sepia for the console test"}`), nil); err != nil {
		t.Fatal(err)
	}
	build(t, base, admCfg, ufopName, "sepia")
	if err := adm.Do(ctx, http.MethodPut, "/v1/ufops/"+ufopName+"/version", []byte(`{"version":1}`), nil); err != nil {
		t.Fatal(err)
	}

	b := browser(t)

	// 1. Sign in.
	signIn := ufopctlConsole(t, p.AdminConfig())
	if !strings.HasPrefix(signIn, base+protocol.ConsoleSignInPath+"?t=") {
		t.Fatalf("ufopctl console printed %q", signIn)
	}
	do(t, b, "sign in", chromedp.Navigate(signIn), chromedp.WaitVisible(chromedp.CSS("#agents table")))
	if h1, loc := eval[string](t, b, `document.querySelector("h1").textContent`), eval[string](t, b, `location.href`); h1 != "Overview" || loc != base+"/console/" {
		t.Fatalf("after sign-in: %q at %s", h1, loc)
	}
	cookies, err := chromedp.Call(b, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	var session *network.Cookie
	for _, c := range cookies.Cookies {
		if c.Name == protocol.ConsoleCookie {
			session = c
		}
	}
	if session == nil || !session.HTTPOnly || session.SameSite != network.CookieSameSiteStrict || session.Session {
		t.Fatalf("session cookie %+v", session)
	}
	if got := eval[string](t, b, `document.cookie`); strings.Contains(got, protocol.ConsoleCookie) {
		t.Errorf("the page's script can read the session cookie: %q", got)
	}
	t.Run("sign-in link works once", func(t *testing.T) {
		resp, err := http.Get(signIn)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("second use: %s", resp.Status)
		}
	})
	csrf := eval[string](t, b, `document.querySelector('meta[name="csrf-token"]').content`)
	t.Run("csrf", func(t *testing.T) { checkCSRF(t, base, session.Value, csrf) })
	shoot(t, b, "overview")

	// 2. Create a bucket.
	do(t, b, "create bucket", chromedp.Navigate(base+"/console/buckets"), chromedp.WaitVisible(chromedp.ID("bucket-name")),
		chromedp.SendKeys(chromedp.ID("bucket-name"), "pics"), chromedp.Click(chromedp.CSS(`#create-bucket button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#buckets a[href="/console/buckets/pics"]`)))
	if bk, err := adm.GetBucket(ctx, "pics"); err != nil || bk.Owner != me.Name {
		t.Fatalf("bucket pics: %+v %v", bk, err)
	}
	shoot(t, b, "buckets")

	// 3. Upload, watching the progress bar reach 100%.
	photo, err := filepath.Abs(filepath.Join(images, "portrait.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	do(t, b, "upload", chromedp.Navigate(base+"/console/buckets/pics"), chromedp.WaitVisible(chromedp.ID("upload-file")),
		chromedp.SetUploadFiles(chromedp.ID("upload-file"), []string{photo}),
		chromedp.Click(chromedp.CSS(`#upload button[type="submit"]`)),
		until(`document.getElementById("upload-pct").textContent === "100%"`),
		chromedp.WaitVisible(chromedp.CSS(`#objects a[href*="key=portrait.jpg"]`)))
	want, _ := os.ReadFile(photo)
	obj, err := adm.StatObject(ctx, "pics", "portrait.jpg")
	if err != nil || obj.Size != int64(len(want)) {
		t.Fatalf("uploaded object: %+v %v (want %d bytes)", obj, err, len(want))
	}
	shoot(t, b, "objects")

	// 4. The playground: URL, result, sizes beside the original.
	do(t, b, "playground", chromedp.Navigate(base+"/console/playground?bucket=pics&key=portrait.jpg"),
		until(`document.getElementById("pg-bucket").value === "pics"`),
		chromedp.SetValue(chromedp.ID("pg-fops"), "imageView2/2/w/200/h/200"),
		chromedp.Click(chromedp.CSS(`#play button[type="submit"]`)),
		until(`document.getElementById("res-info").dataset.width !== undefined`))
	resSize := eval[string](t, b, `document.getElementById("res-info").dataset.size`)
	resWidth := eval[string](t, b, `document.getElementById("res-info").dataset.width`)
	origSize := eval[string](t, b, `document.getElementById("orig-info").dataset.size`)
	shownURL := eval[string](t, b, `document.getElementById("pg-url").textContent`)
	if shownURL != base+"/pics/portrait.jpg?imageView2/2/w/200/h/200" {
		t.Errorf("playground URL %q", shownURL)
	}
	resp, err := http.Get(shownURL)
	if err != nil {
		t.Fatal(err)
	}
	direct, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if w, _ := strconv.Atoi(resWidth); resSize != strconv.Itoa(len(direct)) || w < 1 || w > 200 || origSize != strconv.Itoa(len(want)) {
		t.Errorf("playground shows result %s bytes, %s px wide, original %s bytes; direct GET gives %d bytes, original is %d",
			resSize, resWidth, origSize, len(direct), len(want))
	}
	shoot(t, b, "playground")

	// 5 and 6. Change the scale policy; the chart follows the scaler's
	// desired count and the healthy instances it brings.
	do(t, b, "ufop page", chromedp.Navigate(base+"/console/ufops/"+ufopName),
		until(`Number(document.getElementById("chart").dataset.samples) >= 2`))
	if before := eval[string](t, b, `document.getElementById("chart").dataset.lastDesired`); before != "0" {
		t.Fatalf("desired before the policy: %q", before)
	}
	do(t, b, "scale policy", chromedp.SetValue(chromedp.ID("sc-min"), "1"), chromedp.SetValue(chromedp.ID("sc-max"), "2"),
		chromedp.SetValue(chromedp.ID("sc-threshold"), "4"), chromedp.SetValue(chromedp.ID("sc-cooldown"), "30"),
		chromedp.Click(chromedp.CSS(`#scale button[type="submit"]`)),
		until(`document.getElementById("status").textContent === "Saved the scale policy."`))
	var info struct{ UFOP ufop.UFOP }
	if err := adm.Do(ctx, http.MethodGet, "/v1/ufops/"+ufopName, nil, &info); err != nil {
		t.Fatal(err)
	}
	if s := info.UFOP.Scale; s == nil || s.Min != 1 || s.Max != 2 || s.Threshold != 4 || s.Cooldown != 30*time.Second {
		t.Fatalf("stored policy %+v", s)
	}
	wait := func(what string, within time.Duration, cond string) {
		t.Helper()
		tctx, cancel := context.WithTimeout(b, within)
		defer cancel()
		if err := chromedp.Do(tctx, until(cond)); err != nil {
			t.Fatalf("%s: %v (chart: %s)", what, err, eval[string](t, b, `document.getElementById("chart").getAttribute("aria-label")`))
		}
	}
	wait("the chart's desired count reaches 1", 60*time.Second, `document.getElementById("chart").dataset.lastDesired === "1"`)
	// The healthy line follows once the scheduler has started the instance.
	wait("the chart's healthy count reaches 1", 120*time.Second, `document.getElementById("chart").dataset.lastHealthy === "1"`)
	if n := eval[int](t, b, `document.querySelectorAll("#chart path").length`); n != 3 {
		t.Errorf("the chart draws %d lines, want 3", n)
	}
	// The version's build log and the instance's log tail.
	if got := eval[string](t, b, `(document.querySelector("#versions details pre")||{}).textContent||""`); !strings.Contains(got, "package: ") {
		t.Errorf("build log shown: %q", got)
	}
	do(t, b, "log tail", until(`document.getElementById("log-inst").options.length === 1`),
		chromedp.Click(chromedp.ID("log-load")), until(`document.getElementById("logs").textContent !== "—"`))
	if got := eval[string](t, b, `document.getElementById("logs").textContent`); strings.HasPrefix(got, "4") || strings.HasPrefix(got, "5") {
		t.Errorf("log tail: %q", got)
	}
	shoot(t, b, "ufop")
	do(t, b, "ufops list", chromedp.Navigate(base+"/console/ufops"), chromedp.WaitVisible(chromedp.CSS(`#ufops a[href="/console/ufops/`+ufopName+`"]`)))
	shoot(t, b, "ufops")

	otherPages(t, b, base)

	// An admin page: set a limit for bob.
	do(t, b, "users", chromedp.Navigate(base+"/console/users"), chromedp.WaitVisible(chromedp.CSS("#limits table")),
		chromedp.SendKeys(chromedp.ID("l-user"), "bob"), chromedp.SendKeys(chromedp.ID("l-rps"), "7"),
		chromedp.Click(chromedp.CSS(`#set-limit button[type="submit"]`)),
		until(`document.getElementById("status").textContent === "Saved the limit."`))
	var lims ufopctl.Limits
	if err := adm.Do(ctx, http.MethodGet, "/v1/limits/bob", nil, &lims); err != nil || len(lims.Limits) != 1 || lims.Limits[0].RPS != 7 {
		t.Fatalf("bob's limits after the form: %+v %v", lims, err)
	}
	shoot(t, b, "users")

	// A phone-sized window: the same pages, laid out in one column.
	for _, pg := range []struct{ name, path, cond string }{
		{"ufop-390", "/console/ufops/" + ufopName, `Number(document.getElementById("chart").dataset.samples) >= 1`},
		{"overview-390", "/console/", `document.querySelector("#agents table") !== null`},
	} {
		do(t, b, pg.name, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)), chromedp.Navigate(base+pg.path), until(pg.cond))
		if sw, cw := eval[int](t, b, `document.documentElement.scrollWidth`), eval[int](t, b, `document.documentElement.clientWidth`); cw != 390 || sw > cw {
			t.Errorf("%s: the page is %d px wide in a %d px window", pg.name, sw, cw)
		}
		shoot(t, b, pg.name)
	}
	do(t, b, "1280 px again", chromedp.ResetViewport())

	// 7. Sign out, sign in as bob (a normal user): the admin's bucket is
	// refused by the API with 403, shown on the page, and the admin pages
	// are not offered.
	do(t, b, "sign out", chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.ID("signout")),
		chromedp.Click(chromedp.ID("signout")))
	testenv.Eventually(t, 10*time.Second, func() bool {
		h1, err := chromedp.Run(b, chromedp.Evaluate[string](`document.querySelector("h1").textContent`))
		return err == nil && h1 == "Sign in"
	}, "the sign-in page after signing out")
	bobConf := filepath.Join(t.TempDir(), "bob.json")
	if err := ufopctl.SaveConfig(bobConf, ufopctl.Config{Endpoint: base, AK: bob.AK, SK: bob.SK}); err != nil {
		t.Fatal(err)
	}
	do(t, b, "sign in as bob", chromedp.Navigate(ufopctlConsole(t, bobConf)), chromedp.WaitVisible(chromedp.CSS("#queues")),
		chromedp.Navigate(base+"/console/buckets/pics"),
		until(`document.getElementById("status").textContent.startsWith("403")`))
	if status := eval[string](t, b, `document.getElementById("status").textContent`); !strings.Contains(status, "belongs to another user") {
		t.Errorf("status %q", status)
	}
	if n := eval[int](t, b, `document.querySelectorAll('nav a[href="/console/users"]').length`); n != 0 {
		t.Errorf("bob is offered the users page")
	}
	do(t, b, "bob's buckets", chromedp.Navigate(base+"/console/buckets"), chromedp.WaitVisible(chromedp.CSS("#buckets table")))
	if got := eval[string](t, b, `[...document.querySelectorAll("#buckets a")].map(a => a.textContent).join(",")`); got != "bobs-private" {
		t.Errorf("bob sees buckets %q, want only his own", got)
	}

	// Keyboard: the first Tab reaches the skip link, which moves focus
	// to the main content.
	do(t, b, "keyboard", chromedp.Navigate(base+"/console/buckets"),
		chromedp.WaitVisible(chromedp.ID("bucket-name")), chromedp.KeyEvent("\t"))
	if active := eval[string](t, b, `document.activeElement.className`); active != "skip" {
		t.Errorf("first Tab focuses %q, want the skip link", active)
	}
	do(t, b, "skip link", chromedp.KeyEvent("\r"))
	if active := eval[string](t, b, `document.activeElement.id`); active != "main" {
		t.Errorf("the skip link moves focus to %q, want main", active)
	}
}

// checkCSRF sends API calls with the session cookie as a foreign page
// could: without the CSRF header, or with it from another origin.
func checkCSRF(t *testing.T, base, session, csrf string) {
	call := func(method, path, token, origin string) int {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(`{}`))
		req.AddCookie(&http.Cookie{Name: protocol.ConsoleCookie, Value: session})
		if token != "" {
			req.Header.Set(protocol.ConsoleCSRFHeader, token)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	u, _ := url.Parse(base)
	for _, c := range []struct {
		name, method, path, token, origin string
		want                              int
	}{
		{"read with token", "GET", "/v1/whoami", csrf, "", 200},
		{"read without token", "GET", "/v1/whoami", "", "", 403},
		{"change without token", "PUT", "/v1/buckets/csrf-a", "", base, 403},
		{"change with a wrong token", "PUT", "/v1/buckets/csrf-b", strings.Repeat("0", 64), base, 403},
		{"change from another origin", "PUT", "/v1/buckets/csrf-c", csrf, "http://evil.invalid", 403},
		{"change without origin", "PUT", "/v1/buckets/csrf-d", csrf, "", 403},
		{"change from the console", "PUT", "/v1/buckets/csrf-e", csrf, "http://" + u.Host, 200},
		{"a session mints no sign-in link", "POST", protocol.ConsoleSignInAPI, csrf, "http://" + u.Host, 403},
	} {
		if got := call(c.method, c.path, c.token, c.origin); got != c.want {
			t.Errorf("%s: %s %s answered %d, want %d", c.name, c.method, c.path, got, c.want)
		}
	}
	if got := call("GET", "/v1/whoami", csrf, ""); got != 200 {
		t.Fatalf("whoami: %d", got)
	}
}

// otherPages walks the pages of the other engineers' admin APIs: styles
// (SPEC §12), usage (§14) and migrations (§11).
func otherPages(t *testing.T, b context.Context, base string) {
	t.Helper()
	// A style set in the console serves at once.
	do(t, b, "styles", chromedp.Navigate(base+"/console/buckets/pics/styles"), chromedp.WaitVisible(chromedp.ID("st-name")),
		chromedp.SendKeys(chromedp.ID("st-name"), "thumb"), chromedp.SendKeys(chromedp.ID("st-fops"), "imageView2/2/w/120"),
		chromedp.Click(chromedp.CSS(`#style-set button[type="submit"]`)),
		until(`document.getElementById("status").textContent === "Saved style thumb."`),
		chromedp.WaitVisible(chromedp.CSS("#styles table")))
	testenv.Eventually(t, 5*time.Second, func() bool {
		resp, err := http.Get(base + "/pics/portrait.jpg?style/thumb")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "the style set in the console serves")
	shoot(t, b, "styles")

	// Usage: the requests made above are counted within 15 s; the page
	// refreshes every 15 s, or at once with its button.
	do(t, b, "usage", chromedp.Navigate(base+"/console/usage"), chromedp.WaitVisible(chromedp.ID("u-by")),
		chromedp.SetValue(chromedp.ID("u-by"), "minute"))
	var clicked time.Time
	testenv.Eventually(t, 60*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(b, 10*time.Second)
		defer cancel()
		if time.Since(clicked) > 2*time.Second {
			clicked = time.Now()
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#usage-filter button[type="submit"]`))); err != nil {
				return false
			}
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#usage-rows tbody tr").length`))
		return err == nil && got > 0
	}, "usage rows in the console")
	if n := eval[int](t, b, `document.querySelectorAll("#usage-requests path.requests").length`); n != 1 {
		t.Errorf("the usage chart draws %d request lines", n)
	}
	shoot(t, b, "usage")

	// Migrations: one started from the page (a directory of this host, as
	// an admin may) runs to done and shows its progress.
	dir := t.TempDir()
	for _, k := range []string{"m1.txt", "m2.txt"} {
		if err := os.WriteFile(filepath.Join(dir, k), []byte("migrated "+k), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do(t, b, "migrations", chromedp.Navigate(base+"/console/migrations"), chromedp.WaitVisible(chromedp.ID("m-name")),
		chromedp.SendKeys(chromedp.ID("m-name"), "move-in"), chromedp.SendKeys(chromedp.ID("m-from"), "file://"+dir),
		chromedp.SendKeys(chromedp.ID("m-to"), "pics"),
		chromedp.Click(chromedp.CSS(`#migrate-start button[type="submit"]`)),
		until(`document.getElementById("status").textContent === "Started move-in."`))
	testenv.Eventually(t, 60*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(b, 10*time.Second)
		defer cancel()
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("migrations").textContent`))
		return err == nil && strings.Contains(got, "done") && strings.Contains(got, "2 copied")
	}, "the migration runs to done in the console")
	shoot(t, b, "migrations")
}
