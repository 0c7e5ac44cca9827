// Package v1alpha1 holds the Go types of Aeraki's meta-protocol API group,
// metaprotocol.aeraki.io/v1alpha1: MetaRouter (routing, mirroring, mutation and rate limits
// for one service) and ApplicationProtocol (which codec speaks an application protocol).
//
// The types follow the schema of Aeraki's CRDs (the protos in github.com/aeraki-mesh/api,
// metaprotocol/v1alpha1) field for field, with the same JSON names, so a YAML file written
// for Aeraki decodes here unchanged. Breeze's additions are marked "Breeze addition"; they
// are optional and Aeraki ignores nothing of them because it never sees them.
//
// Only the spec types are defined here: the control plane's file source reads the object
// envelope (apiVersion, kind, metadata) itself.
package v1alpha1

// GroupName is the API group of MetaRouter and ApplicationProtocol.
const GroupName = "metaprotocol.aeraki.io"

// Version is the only version of the group.
const Version = "v1alpha1"

// APIVersion is the apiVersion written in objects of this group.
const APIVersion = GroupName + "/" + Version

// Kinds of the group.
const (
	KindMetaRouter          = "MetaRouter"
	KindApplicationProtocol = "ApplicationProtocol"
)
