//go:build tools

// kube-router's network policy controller alone (`--run-firewall`, without its router or service
// proxy), for the real node of crates/testenv/src/node.rs: it enforces NetworkPolicies with
// iptables and ipset on a pod network (CNI ptp) that enforces none. Its own module, so its
// Kubernetes client libraries (v0.29) never meet the API server's replace block. This file keeps
// github.com/cloudnativelabs/kube-router/v2/cmd/kube-router in the module graph for `go mod tidy`.
package tools

import _ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
