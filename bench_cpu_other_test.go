//go:build !unix

package connect_test

import "time"

// processCPU is not measured outside unix: the cpu-ns/op metric reads 0.
func processCPU() time.Duration { return 0 }
