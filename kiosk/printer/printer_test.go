package printer_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"

	"ombud/kiosk/printer"
)

const trackURL = "https://track.example.org/t/K7QM4XRT9B2C"

func sampleReceipt() printer.Receipt {
	return printer.Receipt{
		Title:     "Complaint received",
		Lines:     []string{"Branch: Main Street", "Date: 27 Nov 2026 14:05"},
		CodeLabel: "Your tracking code",
		Code:      "K7QM-4XRT-9B2C",
		URL:       trackURL,
		Footer: []string{
			"We will acknowledge your complaint within 2 working days and send you our answer within 15 working days. " +
				"Scan the code or visit the address above to follow its progress.",
		},
	}
}

// MustDecodeQR reads a QR code from img as a phone would.
func MustDecodeQR(tb testing.TB, img image.Image) string {
	tb.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		tb.Fatalf("binary bitmap: %v", err)
	}
	res, err := gzqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		tb.Fatalf("decode QR: %v", err)
	}
	return res.GetText()
}

// MustOpen opens spec or fails the test.
func MustOpen(tb testing.TB, spec string, opts printer.Options) printer.Printer {
	tb.Helper()
	p, err := printer.Open(spec, opts)
	if err != nil {
		tb.Fatalf("Open(%q): %v", spec, err)
	}
	return p
}

// MustEncode encodes r or fails the test.
func MustEncode(tb testing.TB, r printer.Receipt, opts printer.Options) []byte {
	tb.Helper()
	b, err := printer.Encode(r, opts)
	if err != nil {
		tb.Fatalf("Encode: %v", err)
	}
	return b
}

func testContext(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// checkPrinted asserts that an ESC/POS stream holds a scannable QR code of
// r.URL and r's title and code as text.
func checkPrinted(t *testing.T, stream []byte, r printer.Receipt, paperDots int) {
	t.Helper()
	imgs, lines, err := printer.DecodeRaster(stream)
	if err != nil {
		t.Fatalf("DecodeRaster: %v", err)
	}
	if got, want := len(imgs), 1; got != want {
		t.Fatalf("%d raster images, want %d", got, want)
	}
	if got, want := imgs[0].Bounds().Dx(), paperDots; got != want {
		t.Errorf("raster width %d dots, want %d", got, want)
	}
	if got := MustDecodeQR(t, imgs[0]); got != r.URL {
		t.Errorf("QR decodes to %q, want %q", got, r.URL)
	}
	for _, want := range []string{r.Title, r.Code, r.CodeLabel, r.Lines[0]} {
		if !slices.Contains(lines, want) {
			t.Errorf("printed lines %q lack %q", lines, want)
		}
	}
	// On narrow paper the URL wraps at any character.
	if !strings.Contains(strings.Join(lines, ""), r.URL) {
		t.Errorf("printed lines %q lack %q", lines, r.URL)
	}
	cols := paperDots / 12
	for _, l := range lines {
		if len(l) > cols {
			t.Errorf("line %q is %d characters, wider than %d", l, len(l), cols)
		}
	}
}

func TestPrintToFile(t *testing.T) {
	tests := []struct {
		name      string
		paperDots int
	}{
		{"80mm", 0},
		{"58mm", printer.Paper58mm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "receipts") // created by Print
			now := time.Date(2026, 11, 27, 14, 5, 0, 0, time.UTC)
			opts := printer.Options{PaperDots: tt.paperDots, Now: func() time.Time { return now }}
			p := MustOpen(t, "file:"+dir, opts)
			r := sampleReceipt()
			for range 2 {
				if err := p.Print(testContext(t), r); err != nil {
					t.Fatalf("Print: %v", err)
				}
			}

			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.Name())
			}
			sort.Strings(got)
			base := "20261127T140500.000000000Z-K7QM-4XRT-9B2C"
			want := []string{
				base + "-2.escpos", base + "-2.png", base + "-2.txt",
				base + ".escpos", base + ".png", base + ".txt",
			}
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Fatalf("files %q, want %q", got, want)
			}

			paper := tt.paperDots
			if paper == 0 {
				paper = printer.Paper80mm
			}
			stream, err := os.ReadFile(filepath.Join(dir, base+".escpos"))
			if err != nil {
				t.Fatal(err)
			}
			checkPrinted(t, stream, r, paper)
			if !bytes.Equal(stream, MustEncode(t, r, opts)) {
				t.Errorf(".escpos differs from Encode")
			}

			pngData, err := os.ReadFile(filepath.Join(dir, base+".png"))
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(pngData))
			if err != nil {
				t.Fatal(err)
			}
			if got := MustDecodeQR(t, img); got != r.URL {
				t.Errorf(".png decodes to %q, want %q", got, r.URL)
			}

			text, err := os.ReadFile(filepath.Join(dir, base+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			flat := strings.Join(strings.Fields(string(text)), " ")
			for _, want := range []string{r.Title, r.Code, r.URL[:30], "within 15 working days"} {
				if !strings.Contains(flat, want) {
					t.Errorf(".txt lacks %q:\n%s", want, text)
				}
			}
		})
	}
}

func TestPrintToFileUnwritable(t *testing.T) {
	// A regular file where the directory should be.
	dir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := MustOpen(t, "file:"+dir, printer.Options{}).Print(testContext(t), sampleReceipt())
	if !errors.Is(err, printer.ErrFault) {
		t.Fatalf("Print: got %v, want a printer fault", err)
	}
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q does not name %s", err, dir)
	}
}

func TestNativeQR(t *testing.T) {
	tests := []struct {
		name string
		url  string
	}{
		{"tracking url", trackURL},
		{"300 bytes", "https://track.example.org/t/" + strings.Repeat("A", 272)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sampleReceipt()
			r.URL = tt.url
			stream := MustEncode(t, r, printer.Options{QR: printer.QRNative})

			store := []byte{0x1d, '(', 'k'}
			i := bytes.Index(stream, append(store[:3:3], byte(len(tt.url)+3), byte((len(tt.url)+3)>>8), 49, 80, 48))
			if i < 0 {
				t.Fatalf("no GS ( k store command with length %d in stream", len(tt.url)+3)
			}
			data := stream[i+8:]
			if got, want := string(data[:len(tt.url)]), tt.url; got != want {
				t.Errorf("stored %q, want %q", got, want)
			}
			if got, want := data[len(tt.url):len(tt.url)+8], []byte{0x1d, '(', 'k', 3, 0, 49, 81, 48}; !bytes.Equal(got, want) {
				t.Errorf("after the data: % x, want the print command % x", got, want)
			}
			for _, cmd := range [][]byte{
				{0x1d, '(', 'k', 4, 0, 49, 65, 50, 0}, // model 2
				{0x1d, '(', 'k', 3, 0, 49, 69, 49},    // level M
				{0x1d, '(', 'k', 3, 0, 49, 67},        // module size
			} {
				if !bytes.Contains(stream[:i], cmd) {
					t.Errorf("no % x before the store command", cmd)
				}
			}

			d, err := printer.Decode(stream)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got, want := d.NativeQR, []string{tt.url}; !slices.Equal(got, want) {
				t.Errorf("native QR %q, want %q", got, want)
			}
			if got := len(d.Images); got != 0 {
				t.Errorf("%d raster images, want none", got)
			}
			if got, want := d.Cuts, 1; got != want {
				t.Errorf("%d cuts, want %d", got, want)
			}
		})
	}
}

func TestOpenSpecs(t *testing.T) {
	good := []string{
		"none", " none ", "file:/tmp/receipts", "/dev/usb/lp0",
		"tcp:10.0.0.5:9100", "10.0.0.5:9100", "printer.local:9100", "tcp:[::1]:9100",
	}
	for _, spec := range good {
		t.Run(spec, func(t *testing.T) {
			if _, err := printer.Open(spec, printer.Options{}); err != nil {
				t.Errorf("Open(%q): %v", spec, err)
			}
		})
	}
	bad := []string{
		"", "lp0", "dev/usb/lp0", "file:", "tcp:", "tcp:printer", "tcp:printer:0",
		"printer:99999", "printer:ipp", ":9100", "usb://lp0",
	}
	for _, spec := range bad {
		t.Run("bad "+spec, func(t *testing.T) {
			_, err := printer.Open(spec, printer.Options{})
			if err == nil {
				t.Fatalf("Open(%q): got nil error", spec)
			}
			for _, want := range []string{"none", "file:DIR", "/dev/usb/lp0", "tcp:HOST:PORT"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestOpenOptions(t *testing.T) {
	tests := []struct {
		name string
		opts printer.Options
		want string
	}{
		{"narrow paper", printer.Options{PaperDots: 100}, "384 for 58 mm"},
		{"few columns", printer.Options{Columns: 5}, "32 for 58 mm"},
		{"qr mode", printer.Options{QR: printer.QRMode(9)}, "raster or native"},
		{"negative timeout", printer.Options{Timeout: -time.Second}, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := printer.Open("none", tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open: got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestDisabled(t *testing.T) {
	err := MustOpen(t, "none", printer.Options{}).Print(testContext(t), sampleReceipt())
	if !errors.Is(err, printer.ErrDisabled) {
		t.Errorf("Print: got %v, want ErrDisabled", err)
	}
	if errors.Is(err, printer.ErrFault) {
		t.Errorf("disabled printing reported as a fault")
	}
}

// TestTextIsSanitised: with the ASCII table (a printer with no Latin-1
// table), text loses its accents, and nothing but printable ASCII and the
// package's own commands reaches the printer.
func TestTextIsSanitised(t *testing.T) {
	tests := []struct {
		name, title, want string
	}{
		{"accents", "Réclamation reçue", "Reclamation recue"},
		{"german", "Beschwerde eingegangen: Straße", "Beschwerde eingegangen: Strasse"},
		{"polish", "Złożono reklamację", "Zlozono reklamacje"},
		{"typography", "“Done” – thanks…", "\"Done\" - thanks..."},
		{"escape injection", "Hi\x1b@\x1dV\x42\x00there", "Hi@VBthere"},
		{"c1 and del", "a\u009bb\x7fc", "abc"},
		{"line breaks", "two\nlines\ttab", "two lines tab"},
		{"invisible", "zero\u200bwidth\u202eflip", "zerowidthflip"},
		{"combining", "e\u0301te", "ete"},
		{"other scripts", "Жалоба 苦情", "?????? ??"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sampleReceipt()
			r.Title = tt.title
			r.Lines = []string{"Branch: " + tt.title}
			stream := MustEncode(t, r, printer.Options{QR: printer.QRNative, CodePage: printer.ASCII})
			// Outside the one GS ( k store command (which carries the URL),
			// every byte is a known command or printable ASCII: Decode
			// rejects anything else.
			d, err := printer.Decode(stream)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got, want := d.Lines[0], tt.want; got != want {
				t.Errorf("title printed as %q, want %q", got, want)
			}
			if !slices.Contains(d.Lines, "Branch: "+tt.want) {
				t.Errorf("lines %q lack %q", d.Lines, "Branch: "+tt.want)
			}
			for i, c := range stream {
				if c >= 0x80 {
					t.Fatalf("byte %#02x at %d reached the stream", c, i)
				}
			}
			if got := bytes.Count(stream, []byte{0x1b, '@'}); got != 1 {
				t.Errorf("%d ESC @ in the stream, want only the initial one", got)
			}
		})
	}
}

// TestAccentsInCodePage: the default table (CP858) and WPC1252 keep French,
// Spanish and German letters on paper: the stream selects the table (ESC t)
// and the bytes, decoded with it, read as the text; what the table lacks
// loses its accent, and controls never pass.
func TestAccentsInCodePage(t *testing.T) {
	for _, tc := range []struct {
		cp          printer.CodePage
		n           byte
		title, want string
	}{
		{"", 19, "Votre réclamation est enregistrée, décembre", "Votre réclamation est enregistrée, décembre"},
		{printer.CP858, 19, "Reclamación recibida: Straße, 12 €", "Reclamación recibida: Straße, 12 €"},
		{printer.CP858, 19, "Złożono “reklamację”\x1b@", "Zlozono \"reklamacje\"@"},
		{printer.WPC1252, 16, "Réclamation reçue “ici” – 5 €", "Réclamation reçue “ici” – 5 €"},
	} {
		r := sampleReceipt()
		r.Title = tc.title
		r.Footer = []string{"Accusé de réception d'ici le jeudi 3 décembre 2026."}
		stream := MustEncode(t, r, printer.Options{QR: printer.QRNative, CodePage: tc.cp})
		if !bytes.Contains(stream, []byte{0x1b, 't', tc.n}) {
			t.Errorf("%s: no ESC t %d in the stream", tc.cp, tc.n)
		}
		d, err := printer.Decode(stream)
		if err != nil {
			t.Fatalf("%s: Decode: %v", tc.cp, err)
		}
		if d.Lines[0] != tc.want {
			t.Errorf("%s: title printed as %q, want %q", tc.cp, d.Lines[0], tc.want)
		}
		if !slices.Contains(d.Lines, "Accusé de réception d'ici le jeudi 3 décembre") {
			t.Errorf("%s: lines %q lack the accented footer", tc.cp, d.Lines)
		}
		if got := bytes.Count(stream, []byte{0x1b, '@'}); got != 1 {
			t.Errorf("%s: %d ESC @ in the stream, want only the initial one", tc.cp, got)
		}
	}
	if _, err := printer.ParseCodePage("cp437"); err == nil {
		t.Error("an unknown code page was accepted")
	}
}

func TestBadURL(t *testing.T) {
	for _, url := range []string{"https://x.example/\x1b@", "https://x.example/é", strings.Repeat("a", 8000)} {
		r := sampleReceipt()
		r.URL = url
		err := MustOpen(t, "file:"+t.TempDir(), printer.Options{}).Print(testContext(t), r)
		var perr *printer.Error
		if !errors.As(err, &perr) || perr.Op != "encode" {
			t.Errorf("Print with URL %.20q: got %v, want an encode error", url, err)
		}
	}
}

func TestFooterWraps(t *testing.T) {
	r := sampleReceipt()
	r.Footer = []string{strings.Repeat("word ", 40) + strings.Repeat("X", 70)}
	_, lines, err := printer.DecodeRaster(MustEncode(t, r, printer.Options{PaperDots: printer.Paper58mm}))
	if err != nil {
		t.Fatal(err)
	}
	var footer []string
	for _, l := range lines {
		if strings.HasPrefix(l, "word") || strings.HasPrefix(l, "X") {
			footer = append(footer, l)
		}
		if len(l) > 32 {
			t.Errorf("line %q wider than 32 columns", l)
		}
	}
	if got, want := strings.Join(footer, " "), strings.TrimSpace(r.Footer[0]); strings.ReplaceAll(got, "X X", "XX") != want {
		t.Errorf("footer re-joined is %q, want %q", got, want)
	}
}
