package source

// Bucket drivers for LiveCommits: importing package source makes file://, gs:// and s3:// URLs open
// through blob.DefaultURLMux, so callers need no blank imports of their own.
import (
	_ "gocloud.dev/blob/fileblob" // file:// buckets
	_ "gocloud.dev/blob/gcsblob"  // gs:// buckets
	_ "gocloud.dev/blob/s3blob"   // s3:// buckets
)
