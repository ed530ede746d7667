// Types of api-types.mjs for the tests that import it.
export declare const documentPath: string
export declare const typesPath: string
export declare function generateApiTypes(): Promise<string>
