//! Frames within the gateway's limit: a batch of messages split into frames, and a task's
//! frame cut down to fit (viewers page what a frame could not carry over HTTP).

use hangar_protocol::fit::{ArrayBudget, json_len};
use hangar_protocol::git::cut;
use hangar_protocol::limits::LIVE_FRAME_MAX_BYTES;
use hangar_protocol::live::LiveEvent;
use hangar_protocol::tasks::TaskView;
use hangar_protocol::{ChatMessage, ProjectId, SessionId};

/// What a task frame keeps of a long prompt, of each reason and of the history, when the
/// whole task does not fit (viewers read the prompt from the transcript).
const FRAME_PROMPT_CHARS: usize = 1_000;
const FRAME_REASON_CHARS: usize = 500;
const FRAME_HISTORY: usize = 20;

/// The frame of a task change, within [`LIVE_FRAME_MAX_BYTES`]: the whole task when it fits,
/// else the task with its prompt, its reasons and its history cut and its file list dropped
/// (the totals stay).
pub fn task_frame(task: TaskView, cursor: u64) -> LiveEvent {
    let frame = |task: TaskView| LiveEvent::Task {
        project_id: task.project_id.clone(),
        task: Box::new(task),
        cursor,
    };
    let whole = frame(task.clone());
    if json_len(&whole) <= LIVE_FRAME_MAX_BYTES {
        return whole;
    }
    let mut task = task;
    task.prompt = task.prompt.map(|prompt| cut(&prompt, FRAME_PROMPT_CHARS));
    let skip = task.history.len().saturating_sub(FRAME_HISTORY);
    task.history.drain(..skip);
    for step in &mut task.history {
        step.reason = cut(&step.reason, FRAME_REASON_CHARS);
    }
    if let Some(output) = &mut task.output {
        output.files.clear();
    }
    frame(task)
}

/// Splits `messages` (ascending) into frames of at most [`LIVE_FRAME_MAX_BYTES`]. Every
/// frame's cursor is the batch's highest seq; a message too large for any frame is left out,
/// and the cursor tells the viewer to page it.
pub fn message_frames(
    project: &ProjectId,
    session: &SessionId,
    messages: &[ChatMessage],
) -> Vec<LiveEvent> {
    let Some(cursor) = messages.iter().map(|message| message.seq).max() else {
        return Vec::new();
    };
    let frame = |messages: Vec<ChatMessage>| LiveEvent::Messages {
        project_id: project.clone(),
        session_id: session.clone(),
        cursor,
        messages,
    };
    let mut budget = ArrayBudget::new(
        json_len(&frame(Vec::new())),
        LIVE_FRAME_MAX_BYTES,
        usize::MAX,
    );
    let mut frames = Vec::new();
    let mut current: Vec<ChatMessage> = Vec::new();
    for message in messages {
        let size = json_len(message);
        if !budget.fits_alone(size) {
            tracing::debug!(
                seq = message.seq,
                size,
                "message too large for a live frame"
            );
            continue;
        }
        if !budget.fits(size) {
            frames.push(frame(std::mem::take(&mut current)));
            budget.reset();
        }
        budget.add(size);
        current.push(message.clone());
    }
    if !current.is_empty() || frames.is_empty() {
        frames.push(frame(current));
    }
    frames
}

#[cfg(test)]
mod task_tests {
    use super::*;
    use hangar_protocol::tasks::{TaskStatus, TaskTransition, VmSize};
    use hangar_protocol::{TaskId, UserId};

    #[test]
    fn a_task_frame_fits_whatever_its_prompt_and_history() {
        let step = |i: u64| TaskTransition {
            from: Some(TaskStatus::Queued),
            to: TaskStatus::Failed,
            at: i,
            reason: "\u{1}".repeat(2_000),
        };
        let task = TaskView {
            id: TaskId::new(),
            project_id: ProjectId::new(),
            title: "t".into(),
            // Control characters take six bytes each once escaped.
            prompt: Some("\u{1}".repeat(32_768)),
            status: TaskStatus::Failed,
            vm_size: VmSize::Small,
            session_id: SessionId::new(),
            node_id: None,
            workspace_id: None,
            created_by: UserId::parse("u").expect("id"),
            created_at: 1,
            updated_at: 2,
            history: (0..60).map(step).collect(),
            base_branch: "main".into(),
            output: None,
            kept_until: None,
            archived_at: None,
        };
        let frame = task_frame(task.clone(), 7);
        assert!(
            json_len(&frame) <= LIVE_FRAME_MAX_BYTES,
            "{}",
            json_len(&frame)
        );
        let LiveEvent::Task {
            task: cut_task,
            cursor,
            ..
        } = frame
        else {
            panic!("a task frame")
        };
        assert_eq!(
            (cursor, cut_task.updated_at, cut_task.status),
            (7, 2, TaskStatus::Failed)
        );
        assert_eq!(
            cut_task.history.last(),
            task.history
                .last()
                .map(|s| TaskTransition {
                    reason: cut(&s.reason, FRAME_REASON_CHARS),
                    ..s.clone()
                })
                .as_ref()
        );
        // A task that fits goes whole.
        let small = TaskView {
            prompt: Some("p".into()),
            history: Vec::new(),
            ..task
        };
        assert_eq!(
            task_frame(small.clone(), 1),
            LiveEvent::Task {
                project_id: small.project_id.clone(),
                task: Box::new(small),
                cursor: 1
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hangar_protocol::{MessageId, MessageRole};

    fn message(seq: u64, content_len: usize) -> ChatMessage {
        ChatMessage {
            message_id: MessageId::parse(format!("m{seq}")).unwrap(),
            seq,
            role: MessageRole::Assistant,
            content: "x".repeat(content_len),
            tool: None,
            permission: None,
            created_at: 1,
        }
    }

    fn ids() -> (ProjectId, SessionId) {
        (
            ProjectId::parse("p").unwrap(),
            SessionId::parse("s").unwrap(),
        )
    }

    fn frame_seqs(frames: &[LiveEvent]) -> Vec<Vec<u64>> {
        frames
            .iter()
            .map(|frame| match frame {
                LiveEvent::Messages { messages, .. } => messages.iter().map(|m| m.seq).collect(),
                other => panic!("not a messages frame: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_batch_that_fits_is_one_frame() {
        let (project, session) = ids();
        let batch: Vec<_> = (1..=50).map(|seq| message(seq, 1000)).collect();
        let frames = message_frames(&project, &session, &batch);
        assert_eq!(frame_seqs(&frames), vec![(1..=50).collect::<Vec<_>>()]);
    }

    #[test]
    fn frames_never_pass_the_gateway_limit_and_carry_the_batch_cursor() {
        let (project, session) = ids();
        // Three 40 KB messages fill a frame; a fourth goes to the next one.
        let mut batch: Vec<_> = (1..=5).map(|seq| message(seq, 40_000)).collect();
        // Control characters escape to six bytes each: ≈ 180 KB of JSON.
        batch[1].content = "\u{1}".repeat(30_000);
        let frames = message_frames(&project, &session, &batch);
        for frame in &frames {
            let len = serde_json::to_vec(frame).unwrap().len();
            assert!(len <= LIVE_FRAME_MAX_BYTES, "frame of {len} bytes");
            let LiveEvent::Messages { cursor, .. } = frame else {
                unreachable!()
            };
            assert_eq!(*cursor, 5);
        }
        // seq 2 (≈180 KB of JSON) fits no frame and is left for the viewer to page.
        assert_eq!(frame_seqs(&frames), vec![vec![1, 3, 4], vec![5]]);
    }

    #[test]
    fn a_frame_exactly_at_the_limit_is_kept_whole() {
        let (project, session) = ids();
        let envelope = serde_json::to_vec(&message_frames(&project, &session, &[message(1, 0)])[0])
            .unwrap()
            .len();
        // Grow the one message until the frame is exactly at the limit.
        let content_len = LIVE_FRAME_MAX_BYTES - envelope;
        let frames = message_frames(&project, &session, &[message(1, content_len)]);
        assert_eq!(
            serde_json::to_vec(&frames[0]).unwrap().len(),
            LIVE_FRAME_MAX_BYTES
        );
        assert_eq!(frame_seqs(&frames), vec![vec![1]]);
        let frames = message_frames(&project, &session, &[message(1, content_len + 1)]);
        assert_eq!(frame_seqs(&frames), vec![Vec::<u64>::new()]);
    }
}
