package qr_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"

	"ombud/kiosk/qr"
)

const trackURL = "https://track.example.org/t/K7QM4XRT9B2C"

// decode reads a QR symbol from img the way a phone would, failing the test
// if it cannot.
func decode(tb testing.TB, img image.Image) string {
	tb.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		tb.Fatalf("binary bitmap: %v", err)
	}
	res, err := gzqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		tb.Fatalf("decode: %v", err)
	}
	return res.GetText()
}

func TestEncodeDecodes(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		level qr.Level
		quiet int
	}{
		{"url medium quiet 4", trackURL, qr.Medium, 4},
		{"url medium quiet 2", trackURL, qr.Medium, 2},
		{"url low", trackURL, qr.Low, 4},
		{"url high", trackURL, qr.High, 4},
		{"short", "K7QM-4XRT-9B2C", qr.Medium, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := qr.EncodeLevel(tt.text, tt.level, tt.quiet)
			if err != nil {
				t.Fatal(err)
			}
			if got := decode(t, m.Image(4)); got != tt.text {
				t.Errorf("decoded %q, want %q", got, tt.text)
			}
			// The quiet zone is light on every side.
			for i := 0; i < m.Size(); i++ {
				for q := 0; q < tt.quiet; q++ {
					if m.Dark(i, q) || m.Dark(q, i) || m.Dark(i, m.Size()-1-q) || m.Dark(m.Size()-1-q, i) {
						t.Fatalf("quiet zone module dark at %d/%d", i, q)
					}
				}
			}
		})
	}
}

func TestEncodeDefaults(t *testing.T) {
	m, err := qr.Encode(trackURL)
	if err != nil {
		t.Fatal(err)
	}
	// A 41-character URL at Medium is version 3 (29 modules) plus 2x4 quiet.
	if got, want := m.Size(), 29+8; got != want {
		t.Errorf("Size() = %d, want %d", got, want)
	}
	if got := decode(t, m.Image(3)); got != trackURL {
		t.Errorf("decoded %q, want %q", got, trackURL)
	}
	// The top-left finder pattern starts right after the quiet zone.
	if !m.Dark(4, 4) || m.Dark(3, 3) {
		t.Errorf("finder pattern not where expected")
	}
	for _, p := range [][2]int{{-1, 0}, {0, -1}, {m.Size(), 0}, {0, m.Size()}} {
		if m.Dark(p[0], p[1]) {
			t.Errorf("Dark(%d, %d) = true outside the matrix", p[0], p[1])
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		level qr.Level
		quiet int
	}{
		{"empty", "", qr.Medium, 4},
		{"negative quiet", trackURL, qr.Medium, -1},
		{"huge quiet", trackURL, qr.Medium, 1000},
		{"bad level", trackURL, qr.Level(42), 4},
		{"too long", strings.Repeat("x", 5000), qr.Medium, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := qr.EncodeLevel(tt.text, tt.level, tt.quiet); err == nil {
				t.Errorf("EncodeLevel: got nil error, want one")
			}
		})
	}
}

// imageFromHalfBlocks rebuilds modules from terminal rows as a person
// photographing the screen would see them.
func imageFromHalfBlocks(tb testing.TB, rows []string, scale int) *image.Gray {
	tb.Helper()
	width := len([]rune(rows[0]))
	img := image.NewGray(image.Rect(0, 0, width*scale, len(rows)*2*scale))
	set := func(x, y int, dark bool) {
		v := uint8(0xff)
		if dark {
			v = 0
		}
		for dy := 0; dy < scale; dy++ {
			for dx := 0; dx < scale; dx++ {
				img.SetGray(x*scale+dx, y*scale+dy, color.Gray{Y: v})
			}
		}
	}
	for r, row := range rows {
		runes := []rune(row)
		if len(runes) != width {
			tb.Fatalf("row %d is %d wide, want %d", r, len(runes), width)
		}
		for x, c := range runes {
			var top, bottom bool
			switch c {
			case '█':
				top, bottom = true, true
			case '▀':
				top = true
			case '▄':
				bottom = true
			case ' ':
			default:
				tb.Fatalf("unexpected rune %q", c)
			}
			set(x, 2*r, top)
			set(x, 2*r+1, bottom)
		}
	}
	return img
}

func TestHalfBlocksDecode(t *testing.T) {
	for _, quiet := range []int{4, 2} {
		m, err := qr.EncodeLevel(trackURL, qr.Medium, quiet)
		if err != nil {
			t.Fatal(err)
		}
		rows := m.HalfBlocks()
		if got, want := len(rows), (m.Size()+1)/2; got != want {
			t.Errorf("quiet %d: %d rows, want %d", quiet, got, want)
		}
		if got := decode(t, imageFromHalfBlocks(t, rows, 4)); got != trackURL {
			t.Errorf("quiet %d: decoded %q, want %q", quiet, got, trackURL)
		}
	}
}

func TestPNG(t *testing.T) {
	m, err := qr.Encode(trackURL)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.PNG(5)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := img.Bounds().Dx(), m.Size()*5; got != want {
		t.Errorf("PNG width %d, want %d", got, want)
	}
	if got := decode(t, img); got != trackURL {
		t.Errorf("decoded %q, want %q", got, trackURL)
	}
}
