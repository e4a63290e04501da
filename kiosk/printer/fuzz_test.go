package printer_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"ombud/kiosk/printer"
)

var update = flag.Bool("update", false, "rewrite the generated fuzz seed corpus in testdata")

const seedDir = "testdata/fuzz/FuzzDecodeRaster"

// generatedSeeds are real receipts, kept in testdata so that `go test
// -fuzz` starts from them; TestFuzzSeedsCurrent keeps them in step with
// Encode.
func generatedSeeds(tb testing.TB) map[string][]byte {
	tb.Helper()
	r := sampleReceipt()
	r.Footer = []string{"Answer within 15 working days."}
	return map[string][]byte{
		"receipt-58mm-raster": MustEncode(tb, r, printer.Options{PaperDots: printer.Paper58mm}),
		"receipt-80mm-native": MustEncode(tb, r, printer.Options{QR: printer.QRNative}),
	}
}

func corpusFile(b []byte) []byte {
	return []byte("go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n")
}

func TestFuzzSeedsCurrent(t *testing.T) {
	for name, b := range generatedSeeds(t) {
		path := filepath.Join(seedDir, name)
		if *update {
			if err := os.MkdirAll(seedDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, corpusFile(b), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestFuzzSeedsCurrent -update)", err)
		}
		if !bytes.Equal(got, corpusFile(b)) {
			t.Errorf("%s is stale: run go test -run TestFuzzSeedsCurrent -update", path)
		}
	}
}

func FuzzDecodeRaster(f *testing.F) {
	for _, b := range generatedSeeds(f) {
		f.Add(b)
		f.Add(b[:len(b)/2]) // truncated mid-image or mid-text
	}
	f.Add([]byte{0x1d, 'v', '0', 0, 0xff, 0xff, 0xff, 0xff}) // huge image, no data
	f.Add([]byte{0x1d, '(', 'k', 3, 0, 49, 81, 48})          // print before store
	f.Add([]byte("plain text\nand an unterminated line"))
	f.Fuzz(func(t *testing.T, b []byte) {
		imgs, lines, err := printer.DecodeRaster(b)
		if err != nil {
			if imgs != nil || lines != nil {
				t.Errorf("error %v with results", err)
			}
			return
		}
		pixels := 0
		for _, img := range imgs {
			pixels += img.Bounds().Dx() * img.Bounds().Dy()
		}
		// Each data byte is 8 pixels: nothing is allocated that the input
		// does not pay for.
		if pixels > 8*len(b) {
			t.Errorf("%d pixels from %d bytes", pixels, len(b))
		}
		for _, l := range lines {
			if strings.ContainsFunc(l, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
				t.Errorf("line %q has a non-printable character", l)
			}
		}
	})
}
