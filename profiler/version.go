package profiler

// ToolVersion names this build of actprof in profiles.
var ToolVersion = "actprof 0.1.0"
