// The lifetimes of a generated root and issuer, apart from the code that builds them: settings
// tables read them at start without loading @peculiar/x509.

/** Root and issuer lifetimes when the CA material is generated (root 10 years, issuer 1 year). */
export const GENERATED_LIFETIMES = { rootHours: 10 * 365 * 24, issuerHours: 365 * 24 } as const;
