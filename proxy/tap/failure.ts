// What counts as a failed request, in one place: the recent-failures ring, the tap and `weft stat`
// judge the same way.

/**
 * A request failed when weft answered it with an error code (its own refusal or a failure on the
 * way) or the answer was a server error (5xx). A client that left first (`client_closed`) and the
 * app's own 4xx are not failures of the service.
 */
export function isFailure(status: number, errorCode: string): boolean {
  return status >= 500 || (errorCode !== '' && errorCode !== 'client_closed');
}
