"""The local control plane: etcd, kube-apiserver, controller-manager, scheduler and kwok.

Side effects live here: building binaries, writing certificates, starting processes.
"""
