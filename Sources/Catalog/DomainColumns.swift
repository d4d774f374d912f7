import GRDB
import SendenseCore

// The domain's values are stored as their raw strings: the columns keep the
// words the API has always answered with, and the schema's CHECKs hold them.
extension BackupStatus: DatabaseValueConvertible {}
extension BackupType: DatabaseValueConvertible {}
extension JobState: DatabaseValueConvertible {}
extension JobKind: DatabaseValueConvertible {}
extension SourceKind: DatabaseValueConvertible {}
extension FlowRunState: DatabaseValueConvertible {}
extension PointConsistency: DatabaseValueConvertible {}
extension RecoveryState: DatabaseValueConvertible {}
