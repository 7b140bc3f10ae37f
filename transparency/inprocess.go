package transparency

import (
	"context"

	"github.com/google/trillian"
	"github.com/google/trillian/server/interceptor"
	"google.golang.org/grpc"
)

// The embedded ledger calls Trillian's log and admin servers as Go values
// instead of through gRPC. Going through a gRPC connection, even an
// in-memory one, cost about 7% of the CPU of a scoring request (protobuf
// encoding both ways, HTTP/2 framing, a goroutine and a fresh stack per
// call) for no isolation the process does not already have. The servers'
// own code runs unchanged, behind the same error-translating interceptor a
// gRPC server would apply, so callers see the same status errors.

// unary runs one server method the way a gRPC server with
// interceptor.ErrorWrapper would.
func unary[Req, Resp any](ctx context.Context, method string, req Req, handler func(context.Context, Req) (Resp, error)) (Resp, error) {
	info := &grpc.UnaryServerInfo{FullMethod: method}
	out, err := interceptor.ErrorWrapper(ctx, req, info, func(ctx context.Context, r any) (any, error) {
		return handler(ctx, r.(Req))
	})
	if err != nil {
		var zero Resp
		return zero, err
	}
	return out.(Resp), nil
}

// logServerClient adapts a TrillianLogServer to the TrillianLogClient the
// Ledger uses. Call options are meaningless without a connection and are
// ignored.
type logServerClient struct{ s trillian.TrillianLogServer }

var _ trillian.TrillianLogClient = logServerClient{}

func (c logServerClient) QueueLeaf(ctx context.Context, in *trillian.QueueLeafRequest, _ ...grpc.CallOption) (*trillian.QueueLeafResponse, error) {
	return unary(ctx, trillian.TrillianLog_QueueLeaf_FullMethodName, in, c.s.QueueLeaf)
}

func (c logServerClient) GetInclusionProof(ctx context.Context, in *trillian.GetInclusionProofRequest, _ ...grpc.CallOption) (*trillian.GetInclusionProofResponse, error) {
	return unary(ctx, trillian.TrillianLog_GetInclusionProof_FullMethodName, in, c.s.GetInclusionProof)
}

func (c logServerClient) GetInclusionProofByHash(ctx context.Context, in *trillian.GetInclusionProofByHashRequest, _ ...grpc.CallOption) (*trillian.GetInclusionProofByHashResponse, error) {
	return unary(ctx, trillian.TrillianLog_GetInclusionProofByHash_FullMethodName, in, c.s.GetInclusionProofByHash)
}

func (c logServerClient) GetConsistencyProof(ctx context.Context, in *trillian.GetConsistencyProofRequest, _ ...grpc.CallOption) (*trillian.GetConsistencyProofResponse, error) {
	return unary(ctx, trillian.TrillianLog_GetConsistencyProof_FullMethodName, in, c.s.GetConsistencyProof)
}

func (c logServerClient) GetLatestSignedLogRoot(ctx context.Context, in *trillian.GetLatestSignedLogRootRequest, _ ...grpc.CallOption) (*trillian.GetLatestSignedLogRootResponse, error) {
	return unary(ctx, trillian.TrillianLog_GetLatestSignedLogRoot_FullMethodName, in, c.s.GetLatestSignedLogRoot)
}

func (c logServerClient) GetEntryAndProof(ctx context.Context, in *trillian.GetEntryAndProofRequest, _ ...grpc.CallOption) (*trillian.GetEntryAndProofResponse, error) {
	return unary(ctx, trillian.TrillianLog_GetEntryAndProof_FullMethodName, in, c.s.GetEntryAndProof)
}

func (c logServerClient) InitLog(ctx context.Context, in *trillian.InitLogRequest, _ ...grpc.CallOption) (*trillian.InitLogResponse, error) {
	return unary(ctx, trillian.TrillianLog_InitLog_FullMethodName, in, c.s.InitLog)
}

func (c logServerClient) AddSequencedLeaves(ctx context.Context, in *trillian.AddSequencedLeavesRequest, _ ...grpc.CallOption) (*trillian.AddSequencedLeavesResponse, error) {
	return unary(ctx, trillian.TrillianLog_AddSequencedLeaves_FullMethodName, in, c.s.AddSequencedLeaves)
}

func (c logServerClient) GetLeavesByRange(ctx context.Context, in *trillian.GetLeavesByRangeRequest, _ ...grpc.CallOption) (*trillian.GetLeavesByRangeResponse, error) {
	return unary(ctx, trillian.TrillianLog_GetLeavesByRange_FullMethodName, in, c.s.GetLeavesByRange)
}

// adminServerClient adapts a TrillianAdminServer the same way; the embedded
// ledger uses it only to find or create its tree at start.
type adminServerClient struct{ s trillian.TrillianAdminServer }

var _ trillian.TrillianAdminClient = adminServerClient{}

func (c adminServerClient) ListTrees(ctx context.Context, in *trillian.ListTreesRequest, _ ...grpc.CallOption) (*trillian.ListTreesResponse, error) {
	return unary(ctx, trillian.TrillianAdmin_ListTrees_FullMethodName, in, c.s.ListTrees)
}

func (c adminServerClient) GetTree(ctx context.Context, in *trillian.GetTreeRequest, _ ...grpc.CallOption) (*trillian.Tree, error) {
	return unary(ctx, trillian.TrillianAdmin_GetTree_FullMethodName, in, c.s.GetTree)
}

func (c adminServerClient) CreateTree(ctx context.Context, in *trillian.CreateTreeRequest, _ ...grpc.CallOption) (*trillian.Tree, error) {
	return unary(ctx, trillian.TrillianAdmin_CreateTree_FullMethodName, in, c.s.CreateTree)
}

func (c adminServerClient) UpdateTree(ctx context.Context, in *trillian.UpdateTreeRequest, _ ...grpc.CallOption) (*trillian.Tree, error) {
	return unary(ctx, trillian.TrillianAdmin_UpdateTree_FullMethodName, in, c.s.UpdateTree)
}

func (c adminServerClient) DeleteTree(ctx context.Context, in *trillian.DeleteTreeRequest, _ ...grpc.CallOption) (*trillian.Tree, error) {
	return unary(ctx, trillian.TrillianAdmin_DeleteTree_FullMethodName, in, c.s.DeleteTree)
}

func (c adminServerClient) UndeleteTree(ctx context.Context, in *trillian.UndeleteTreeRequest, _ ...grpc.CallOption) (*trillian.Tree, error) {
	return unary(ctx, trillian.TrillianAdmin_UndeleteTree_FullMethodName, in, c.s.UndeleteTree)
}
