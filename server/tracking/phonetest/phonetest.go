// Package phonetest opens pages in a real browser at a phone's size for
// tests: Debian's headless Chromium driven by chromedp, with full-page
// screenshots kept for people to look at. It is test support, imported only
// by _test files.
package phonetest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium is where Debian's package installs the browser.
const Chromium = "/usr/bin/chromium"

// Width and Height are a common phone's viewport in CSS pixels.
const (
	Width  = 390
	Height = 844
)

// Phone is one browser tab at phone size.
type Phone struct {
	tb     testing.TB
	ctx    context.Context
	dir    string
	prefix string
}

// Open starts Chromium for tb and returns its tab; every action must finish
// within timeout. Without Chromium the test fails under CI=true (CI must
// install it) and is skipped elsewhere with the command that installs it.
// Screenshots go to $OMBUD_ARTIFACTS, or a temp dir, named prefix+name.png.
func Open(tb testing.TB, timeout time.Duration, prefix string) *Phone {
	tb.Helper()
	if _, err := os.Stat(Chromium); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is missing: CI must install it (apt-get install -y chromium)", Chromium)
		}
		tb.Skipf("%s is missing: apt-get update && apt-get install -y chromium", Chromium)
	}
	dir := os.Getenv("OMBUD_ARTIFACTS")
	if dir == "" {
		dir = tb.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.WindowSize(Width, Height))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tb.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	tb.Cleanup(cancelBrowser)
	if err := chromedp.Do(bctx); err != nil { // starts the browser: no timeout on this context
		tb.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, timeout)
	tb.Cleanup(cancel)
	return &Phone{tb: tb, ctx: ctx, dir: dir, prefix: prefix}
}

// Ctx is the tab's context, for chromedp actions the helpers do not cover.
func (p *Phone) Ctx() context.Context { return p.ctx }

// Do runs chromedp actions in the tab, failing the test on error.
func (p *Phone) Do(actions ...chromedp.Action[chromedp.Void]) {
	p.tb.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.tb.Fatal(err)
	}
}

// Visit opens url at phone size.
func (p *Phone) Visit(url string) {
	p.tb.Helper()
	p.Do(chromedp.EmulateViewport(Width, Height), chromedp.Navigate(url))
}

// Text is the visible text of the element sel selects.
func (p *Phone) Text(sel string) string {
	p.tb.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		p.tb.Fatalf("read %s: %v", sel, err)
	}
	return s
}

// Shot saves a full-page screenshot as prefix+name.png and logs its path.
func (p *Phone) Shot(name string) {
	p.tb.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100)) // 100 gives PNG; below 100, JPEG
	if err != nil {
		p.tb.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(p.dir, p.prefix+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.tb.Fatal(err)
	}
	p.tb.Logf("screenshot: %s", path)
}
