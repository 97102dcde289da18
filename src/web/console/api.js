// GraphQL over HTTP with the signed-in service token.

export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
  }
}

export class Api {
  constructor(endpoint, token) {
    this.endpoint = endpoint;
    this.token = token;
  }

  /** Runs one operation; throws an ApiError with the server's message and `extensions.code`. */
  async request(query, variables = {}) {
    let response;
    try {
      response = await fetch(this.endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json',
          authorization: `Bearer ${this.token}`,
        },
        body: JSON.stringify({ query, variables }),
        credentials: 'omit',
      });
    } catch (error) {
      throw new ApiError(`trackql cannot be reached (${error.message})`, 'NETWORK');
    }
    let body;
    try {
      body = await response.json();
    } catch {
      throw new ApiError(`HTTP ${response.status} ${response.statusText}`, 'HTTP_ERROR');
    }
    if (body.errors?.length) {
      const first = body.errors[0];
      const code = first.extensions?.code ?? 'ERROR';
      throw new ApiError(first.message, code);
    }
    return body.data;
  }
}
