package auth

import (
	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
)

// Policy maps each RPC (full method name) to the roles that may call it.
// A method missing from the policy is refused: new RPCs are closed until
// someone decides who may call them.
type Policy map[string][]Role

var readers = []Role{Viewer, Uploader, Admin}

// DefaultPolicy is Canopy's: uploaders upload, admins also retry and
// cancel, every project role reads, and only workers touch the queue.
var DefaultPolicy = Policy{
	canopyv1.IngestService_UploadImage_FullMethodName: {Uploader, Admin},
	canopyv1.IngestService_RetryImage_FullMethodName:  {Admin},
	canopyv1.IngestService_CancelImage_FullMethodName: {Admin},

	canopyv1.StatusService_GetImage_FullMethodName:      readers,
	canopyv1.StatusService_ListImages_FullMethodName:    readers,
	canopyv1.StatusService_GetAnalysis_FullMethodName:   readers,
	canopyv1.StatusService_WatchImage_FullMethodName:    readers,
	canopyv1.StatusService_WatchImages_FullMethodName:   readers,
	canopyv1.StatusService_GetQueueStats_FullMethodName: readers,

	canopyv1.WorkService_ClaimWork_FullMethodName:         {Worker},
	canopyv1.WorkService_RenewLease_FullMethodName:        {Worker},
	canopyv1.WorkService_CompleteWork_FullMethodName:      {Worker},
	canopyv1.WorkService_BatchCompleteWork_FullMethodName: {Worker},
	canopyv1.WorkService_FailWork_FullMethodName:          {Worker},
}

// openPrefixes are services anyone may call: health checks for load
// balancers and orchestrators, and reflection, which describes the API but
// reads no data.
var openPrefixes = []string{
	"/grpc.health.v1.Health/",
	"/grpc.reflection.v1.ServerReflection/",
	"/grpc.reflection.v1alpha.ServerReflection/",
}
