import { TalkView } from "@/components/talk/TalkView";

export default function TalkPage() {
  return <TalkView />;
}
