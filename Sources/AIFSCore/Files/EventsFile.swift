import FuseKit
import Synchronization

/// `/ai/events`: the daemon's events, one JSON line each, read at offsets like a regular file
/// that only grows (``EventLog``). Opened with direct I/O, because each reader has a view of
/// its own (only the events of sockets it may read), which the shared page cache cannot hold.
/// `tail -f` follows it: `stat` shows the reader's true size and the time of its newest event.
final class EventsFile: OpenFile {
    let events: EventLog
    private let reader: Mutex<EventReader>

    init(events: EventLog, caller: Caller) {
        self.events = events
        reader = Mutex(EventReader(caller: caller))
    }

    override func read(_ request: consuming Request, size: Int, offset: Int64, info: FileInfo) {
        let bytes = reader.withLock { reader in events.read(&reader, offset: Int(clamping: max(0, offset)), size: size) }
        request.reply(bytes: bytes)
    }
}
