// Command coredns is the cluster DNS of the local control plane: CoreDNS with only the
// plugins the tests need, which is how CoreDNS documents building it with a chosen
// plugin list (its own plugin.cfg lists some fifty). The server listens where the
// Corefile's bind plugin says (test/cluster/coredns.ts writes one for 127.0.0.1) and
// answers Service names from the local API server. It is never part of the operator.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/rewrite"
)

// The plugin chain, in the order of CoreDNS's own plugin.cfg: a plugin earlier in the
// list sees a query first.
var directives = []string{
	"bind",
	"errors",
	"log",
	"rewrite",
	"kubernetes",
}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
