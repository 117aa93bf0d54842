//go:build tools

// Package tools pins the helm client that the test
// cluster builds. It is never compiled into the operator.
package tools

import (
	_ "helm.sh/helm/v4/cmd/helm"
)
