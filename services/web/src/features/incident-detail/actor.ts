import { useSession } from '../../shared/lib/session';

/**
 * The name the page sends as `actor`. A person signed in with the provider acts as themselves
 * (the server records them, whatever the page sends); a token's user as the name they gave.
 */
export function useActorName(): string {
  const signedIn = useSession();
  return signedIn.person ? (signedIn.person.email ?? signedIn.person.name) : signedIn.name;
}
