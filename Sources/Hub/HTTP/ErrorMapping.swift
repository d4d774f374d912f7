import Catalog
import Engine
import FileRestore
import Foundation
import Repository
import SendenseCore

/// The one place where the errors of the layers below become HTTP answers.
/// Services and the engine throw errors in their own words; routes let them
/// through; `ErrorMiddleware` answers each with the status chosen here. An
/// error that is none of these is a bug: 500, details in the log only.
extension APIError {
    init?(mapping error: any Error) {
        // A full repository or data dir, whichever layer noticed: 507, in words an admin acts on.
        if JobFailure.isOutOfSpace(error) {
            self = .insufficientStorage(JobFailure.describe(error))
            return
        }
        switch error {
        case let error as APIError:
            self = error
        case let error as CatalogError:
            switch error {
            case .conflict(let message), .refused(let message): self = .conflict(message)
            case .notFound(let message): self = .notFound(message)
            case .unknownReference(let message): self = .unprocessable(message)
            }
        case let error as RepositoryError:
            switch error {
            case .invalidPath, .notWritable, .overlapsRepository, .foreignRepository: self = .unprocessable(error.description)
            case .mountFailed, .unmountFailed: self = .badGateway(error.description)
            case .io, .invalidManifest, .outOfSpace: self = .init(.internalServerError, error.description)  // outOfSpace: 507 above
            }
        case let error as BackupError:
            switch error {
            case .vmNotFound, .backupNotFound, .repositoryNotFound, .diskNotFound, .backupDiskNotFound: self = .notFound(error.description)
            case .noDiskChosen: self = .badRequest(error.description)
            case .repositoryDisabled, .alreadyRunning, .hasDependents, .running, .beingRestored, .immutable, .notCompleted, .filesMissing:
                self = .conflict(error.description)
            case .sourceUnavailable: self = .unprocessable(error.description)
            }
        case let error as FileRestoreError:
            switch error {
            case .invalidPath, .notADirectory, .isADirectory: self = .badRequest(error.description)
            case .notFound: self = .notFound(error.description)
            case .symbolicLink, .imageUnreadable, .noFilesystem, .unsupportedFilesystem, .unreadable: self = .unprocessable(error.description)
            // The worker is the hub's upstream for a session's disk.
            case .workerFailed: self = .badGateway(error.description)
            case .workerTimedOut: self = .init(.gatewayTimeout, error.description)
            }
        case let error as RestoreSessions.Failure:
            switch error {
            case .unknown(let id): self = .notFound("restore session not found: mount_id=\(id)")
            case .expired(let id, let at):
                self = .init(.gone, "restore session \(id) expired at \(Timestamp.format(at)) after an hour unused; mount the backup again")
            case .full(let max):
                self = .conflict("\(max) restore sessions are open, the most allowed; close one (DELETE /api/v1/restore/{mount_id}) and try again")
            case .unreadableDisk(let backupID, let diskIndex, let reason):
                self = .unprocessable("cannot open disk \(diskIndex) of backup \(backupID): \(reason)")
            }
        case let error as DiskDownloadError:
            // The catalog says the chain is there; it cannot be read: the repository's fault, not the request's.
            self = .init(.internalServerError, error.description)
        case let error as RestoreTargetError:
            switch error {
            case .invalid: self = .badRequest(error.description)
            case .exists: self = .conflict(error.description)
            case .noFolder, .protected, .unusableURI: self = .unprocessable(error.description)
            }
        case let error as RecoveryError:
            switch error {
            case .invalid: self = .badRequest(error.description)
            case .notFound: self = .notFound(error.description)
            case .notRecoverable: self = .unprocessable(error.description)
            case .nameTaken, .notActive, .pointInUse: self = .conflict(error.description)
            // libvirt or the disk server is the hub's upstream for a recovered VM.
            case .hostUnreachable, .startFailed: self = .badGateway(error.description)
            }
        case let error as VMwareError:
            switch error {
            case .credentialNotFound: self = .notFound(error.description)
            case .invalid: self = .badRequest(error.description)
            case .undecryptable: self = .unprocessable(error.description)
            case .unreachable: self = .badGateway(error.description)
            }
        case let error as FlowError:
            switch error {
            case .invalid: self = .badRequest(error.description)
            case .unknownReference: self = .unprocessable(error.description)
            }
        case let error as VMRegistrationError:
            switch error {
            case .invalid: self = .badRequest(error.description)
            case .notRegistrable, .unusableDisk: self = .unprocessable(error.description)
            case .nameTaken: self = .conflict(error.description)
            case .notFound: self = .notFound(error.description)
            case .sourceUnreachable: self = .badGateway(error.description)
            }
        case let error as RepositoryRequestError:
            switch error {
            case .invalid: self = .badRequest(error.description)
            case .nameTaken: self = .conflict(error.description)
            case .reserved: self = .unprocessable(error.description)
            }
        case let error as ScheduleError:
            // Only a flow's `schedule` field is parsed as one.
            self = .badRequest("schedule: \(error.description)")
        default:
            return nil
        }
    }
}
