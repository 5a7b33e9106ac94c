// Package agentv1 is the MCP agent protocol (agent.proto) and its generated Go code.
package agentv1

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative agent.proto
