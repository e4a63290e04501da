//go:build !unix

package cases_test

import (
	"testing"
	"time"
)

// processCPU is not measured here: the benchmarks report 0 CPU per case.
func processCPU(testing.TB) time.Duration { return 0 }
