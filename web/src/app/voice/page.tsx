import { VoiceView } from "@/components/voice/VoiceView";

export default function VoicePage() {
  return <VoiceView />;
}
