/// A disk's size in whole GiB, rounded up, as the API's `size_gb` fields
/// say it: a 1.5 GiB disk is not shown as 1.
func wholeGibibytes(_ bytes: Int64) -> Int64 { (bytes + (1 << 30) - 1) >> 30 }
