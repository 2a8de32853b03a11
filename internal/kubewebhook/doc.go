// Package kubewebhook holds no code, only the test that puts keyward's TokenReview webhook
// (/v1/clusters/{cluster}/tokenreview) behind the Kubernetes project's own webhook token
// authenticator, built from a webhook kubeconfig file exactly as kube-apiserver builds it from
// --authentication-token-webhook-config-file. It is a package of its own so that the
// Kubernetes modules it needs are compiled for it alone.
package kubewebhook
