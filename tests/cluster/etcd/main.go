// The etcd server of the test control plane: etcd's own entry point, at the release
// k8s.io/kubernetes names in its go.mod.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
