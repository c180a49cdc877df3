// The part of fs-native-extensions (no types of its own) that Keel uses.
declare module "fs-native-extensions" {
  const fsExtensions: {
    /** Takes a lock on the whole file without waiting; false if another holder has it. */
    tryLock(fd: number, options?: { shared?: boolean }): boolean;
  };
  export default fsExtensions;
}
