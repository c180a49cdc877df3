/**
 * Service-protocol message type ids (the u16 in every frame header) and their journal names as Restate's
 * introspection shows them ("Command: Run", "Notification: Call").
 */

export const MessageType = {
  Start: 0x0000,
  Suspension: 0x0001,
  Error: 0x0002,
  End: 0x0003,
  CommandAck: 0x0004,
  ProposeRunCompletion: 0x0005,
  AwaitingOn: 0x0006,
  ProposeRunCompletionAck: 0x0007,

  InputCommand: 0x0400,
  OutputCommand: 0x0401,
  GetLazyStateCommand: 0x0402,
  SetStateCommand: 0x0403,
  ClearStateCommand: 0x0404,
  ClearAllStateCommand: 0x0405,
  GetLazyStateKeysCommand: 0x0406,
  GetEagerStateCommand: 0x0407,
  GetEagerStateKeysCommand: 0x0408,
  GetPromiseCommand: 0x0409,
  PeekPromiseCommand: 0x040a,
  CompletePromiseCommand: 0x040b,
  SleepCommand: 0x040c,
  CallCommand: 0x040d,
  OneWayCallCommand: 0x040e,
  SendSignalCommand: 0x0410,
  RunCommand: 0x0411,
  AttachInvocationCommand: 0x0412,
  GetInvocationOutputCommand: 0x0413,
  CompleteAwakeableCommand: 0x0414,

  GetLazyStateCompletion: 0x8002,
  GetLazyStateKeysCompletion: 0x8006,
  GetPromiseCompletion: 0x8009,
  PeekPromiseCompletion: 0x800a,
  CompletePromiseCompletion: 0x800b,
  SleepCompletion: 0x800c,
  CallCompletion: 0x800d,
  CallInvocationIdCompletion: 0x800e,
  RunCompletion: 0x8011,
  AttachInvocationCompletion: 0x8012,
  GetInvocationOutputCompletion: 0x8013,
  SignalNotification: 0xfbff,
} as const;

export type MessageTypeId = number;

export function isCommand(type: MessageTypeId): boolean {
  return type >= 0x0400 && type < 0x8000;
}

export function isNotification(type: MessageTypeId): boolean {
  return type >= 0x8000 && type < 0xfc00;
}

/** Custom entries are persisted and replayed opaquely. */
export function isCustomEntry(type: MessageTypeId): boolean {
  return type >= 0xfc00;
}

const COMMAND_NAMES = new Map<number, string>([
  [MessageType.InputCommand, "Input"],
  [MessageType.OutputCommand, "Output"],
  [MessageType.GetLazyStateCommand, "GetLazyState"],
  [MessageType.SetStateCommand, "SetState"],
  [MessageType.ClearStateCommand, "ClearState"],
  [MessageType.ClearAllStateCommand, "ClearAllState"],
  [MessageType.GetLazyStateKeysCommand, "GetLazyStateKeys"],
  [MessageType.GetEagerStateCommand, "GetEagerState"],
  [MessageType.GetEagerStateKeysCommand, "GetEagerStateKeys"],
  [MessageType.GetPromiseCommand, "GetPromise"],
  [MessageType.PeekPromiseCommand, "PeekPromise"],
  [MessageType.CompletePromiseCommand, "CompletePromise"],
  [MessageType.SleepCommand, "Sleep"],
  [MessageType.CallCommand, "Call"],
  [MessageType.OneWayCallCommand, "OneWayCall"],
  [MessageType.SendSignalCommand, "SendSignal"],
  [MessageType.RunCommand, "Run"],
  [MessageType.AttachInvocationCommand, "AttachInvocation"],
  [MessageType.GetInvocationOutputCommand, "GetInvocationOutput"],
  [MessageType.CompleteAwakeableCommand, "CompleteAwakeable"],
]);

const NOTIFICATION_NAMES = new Map<number, string>([
  [MessageType.GetLazyStateCompletion, "GetLazyState"],
  [MessageType.GetLazyStateKeysCompletion, "GetLazyStateKeys"],
  [MessageType.GetPromiseCompletion, "GetPromise"],
  [MessageType.PeekPromiseCompletion, "PeekPromise"],
  [MessageType.CompletePromiseCompletion, "CompletePromise"],
  [MessageType.SleepCompletion, "Sleep"],
  [MessageType.CallCompletion, "Call"],
  [MessageType.CallInvocationIdCompletion, "CallInvocationId"],
  [MessageType.RunCompletion, "Run"],
  [MessageType.AttachInvocationCompletion, "AttachInvocation"],
  [MessageType.GetInvocationOutputCompletion, "GetInvocationOutput"],
  [MessageType.SignalNotification, "Signal"],
]);

/** Short name of a command or notification type ("Run", "Call"), or undefined if unknown. */
export function entryShortName(type: MessageTypeId): string | undefined {
  return COMMAND_NAMES.get(type) ?? NOTIFICATION_NAMES.get(type);
}

/** The journal entry type as Restate's SQL shows it: "Command: Run", "Notification: Call". */
export function journalEntryTypeName(type: MessageTypeId): string {
  if (isCommand(type))
    return `Command: ${COMMAND_NAMES.get(type) ?? `Unknown(0x${type.toString(16)})`}`;
  if (isNotification(type) || type === MessageType.SignalNotification) {
    return `Notification: ${NOTIFICATION_NAMES.get(type) ?? `Unknown(0x${type.toString(16)})`}`;
  }
  return `Custom(0x${type.toString(16)})`;
}

/** True for commands whose result comes back as a completion notification. */
export function isCompletableCommand(type: MessageTypeId): boolean {
  switch (type) {
    case MessageType.GetLazyStateCommand:
    case MessageType.GetLazyStateKeysCommand:
    case MessageType.GetPromiseCommand:
    case MessageType.PeekPromiseCommand:
    case MessageType.CompletePromiseCommand:
    case MessageType.SleepCommand:
    case MessageType.CallCommand:
    case MessageType.OneWayCallCommand:
    case MessageType.RunCommand:
    case MessageType.AttachInvocationCommand:
    case MessageType.GetInvocationOutputCommand:
      return true;
    default:
      return false;
  }
}
