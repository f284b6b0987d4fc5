//! The kubelet's identity, which both sides need: the control plane lists its token (the Node
//! authorizer and NodeRestriction key on it) and the node runs the kubelet under it.

/// The node's name (`--hostname-override`): the API server reaches the kubelet by it.
pub(crate) const NODE_NAME: &str = "localhost";
/// The kubelet's static token (user `system:node:localhost`, group `system:nodes`).
pub(crate) const KUBELET_TOKEN: &str = "natgw-testenv-kubelet";
