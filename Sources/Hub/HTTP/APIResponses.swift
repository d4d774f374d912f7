import Hummingbird
import SendenseAPI

// The shared API types the hub answers with (SendenseAPI), as Hummingbird
// responses: encoded with the context's encoder (`APIJSON`).
extension StartBackupResponse: ResponseEncodable {}
extension BackupDetailResponse: ResponseEncodable {}
extension BackupListResponse: ResponseEncodable {}
extension ChainResponse: ResponseEncodable {}
extension MessageResponse: ResponseEncodable {}
extension VerifyResponse: ResponseEncodable {}
extension DiskRestoreResponse: ResponseEncodable {}
extension RecoveryResponse: ResponseEncodable {}
extension VMRestoreResponse: ResponseEncodable {}
extension BootCheckResponse: ResponseEncodable {}
extension BootCheckListResponse: ResponseEncodable {}
extension RecoveryListResponse: ResponseEncodable {}
extension JobListResponse: ResponseEncodable {}
extension LoginResponse: ResponseEncodable {}
extension UserResponse: ResponseEncodable {}
extension UserListResponse: ResponseEncodable {}
extension RepositoryResponse: ResponseEncodable {}
extension RepositoryListResponse: ResponseEncodable {}
extension VMContextResponse: ResponseEncodable {}
extension VMContextListResponse: ResponseEncodable {}
extension DiskListResponse: ResponseEncodable {}
extension MountResponse: ResponseEncodable {}
extension MountListResponse: ResponseEncodable {}
extension FileListResponse: ResponseEncodable {}
extension KeepaliveResponse: ResponseEncodable {}
extension UnmountResponse: ResponseEncodable {}
extension ProtectionFlowResponse: ResponseEncodable {}
extension ProtectionFlowListResponse: ResponseEncodable {}
extension FlowExecutionResponse: ResponseEncodable {}
extension FlowExecutionListResponse: ResponseEncodable {}
extension FlowMachineListResponse: ResponseEncodable {}
extension PruneResponse: ResponseEncodable {}
extension ProtectionGroupResponse: ResponseEncodable {}
extension ProtectionGroupListResponse: ResponseEncodable {}
extension VMwareCredentialResponse: ResponseEncodable {}
extension VMwareCredentialListResponse: ResponseEncodable {}
extension CredentialTestResponse: ResponseEncodable {}
extension DiscoverResponse: ResponseEncodable {}
extension LibvirtDiscoverResponse: ResponseEncodable {}
extension AddVMsResponse: ResponseEncodable {}
