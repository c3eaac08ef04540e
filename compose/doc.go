// Package compose builds thin images straight in the registry: a stable base image plus one shared,
// byte-reproducible layer (an SDK tree such as /agent-server) plus a few config changes (ENV,
// ENTRYPOINT, labels), for every platform of every base, without Docker and without local disk
// for the bases.
//
// Composition reads only manifests and configs of a base: its layers are referenced by digest and
// never downloaded. The new layer is uploaded once per target repository (later images find it
// present), base layers are mounted across repositories when the base lives elsewhere on the same
// registry, and only the small configs and manifests are written per image. A commit of the shared
// software then pushes megabytes instead of gigabytes.
//
// # Reproducible layers
//
// BuildLayer writes a tree (a directory, a tarball, or a path inside another image) as a tar
// stream with entries sorted component by component (parents before children), one fixed mtime
// (SOURCE_DATE_EPOCH, else the Unix epoch), uid and gid 0 unless asked otherwise, no user or group
// names, normalised modes (0755 for directories and executables, 0644 for other files, 0777 for
// symlinks), symlinks and hard links kept, no extended attributes, and the PAX format. It is then
// gzip-compressed at a fixed level with no name, no comment and no timestamp in the header. The
// same tree gives the same diff ID everywhere, and the same digest wherever the same Go toolchain
// compressed it: compress/gzip's deflate output may change between Go releases. For a digest that
// never moves, build the layer once, save it (Layer.WriteTo), and reuse that file byte for byte
// (a prebuilt layer file), or let later runs find the pushed layer by digest in the registry.
//
// # Bases and targets
//
// Bases come as references, a file of references (ParseBaseList) or a regular expression over a
// repository's tags (ListBases); the expression's named groups become fields of the target tag
// template ("{sdk}-{df}-{custom}-source-minimal"). Shard splits the bases between N CI jobs by a
// stable hash of each base reference, with no overlap and no gap.
//
// Every composed manifest carries org.opencontainers.image.base.name and .base.digest, so retention
// can keep the bases that kept images are built on.
package compose
