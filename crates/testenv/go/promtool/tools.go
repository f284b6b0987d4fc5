//go:build tools

// Keeps github.com/prometheus/prometheus/cmd/promtool in the module graph for `go mod tidy`.
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
