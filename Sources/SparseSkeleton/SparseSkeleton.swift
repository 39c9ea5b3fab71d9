/// SparseSkeleton core: shapes and dtypes, the skeleton estimator, threshold policies, block
/// masks, CPU reference attention, metrics and the literature baselines. Pure Swift, no GPU.
public enum SparseSkeletonVersion {
    public static let string = "0.1.0"
}
