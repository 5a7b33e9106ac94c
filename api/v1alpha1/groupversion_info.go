// Package v1alpha1 holds MCP's Kubernetes API types: the TuningPolicy custom resource. The
// same types are read from YAML files when MCP runs outside Kubernetes.
//
// +kubebuilder:object:generate=true
// +groupName=mcp.mcplane.dev
package v1alpha1

// The deep copies and the CRD (then copied into the chart and kustomize by go generate ./deploy).
//go:generate go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0 object crd paths=. output:crd:dir=../../deploy/crd

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of these types.
	GroupVersion = schema.GroupVersion{Group: "mcp.mcplane.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
