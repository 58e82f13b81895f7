//go:build !unix

package registrytest

import "time"

// cpuTime is unknown here.
func cpuTime() time.Duration { return 0 }
